"""CARD mutation models (variant / overexpression / knockout): reading a release and marking homologs (real MMseqs2)."""

from __future__ import annotations

import numpy as np
import pytest

from biotune.errors import InputError
from biotune.recipes.arg.mutation_models import DEFAULT_MODELS, mutation_model_of, read_mutation_models

from conftest import SHARED_ARG
from test_arg_build import mutate, random_protein

CFG = {"min_identity": 0.4, "min_coverage": 0.8, "sensitivity": 4.0, "max_seqs": 20}


def write_card(folder, models):
    folder.mkdir()
    (folder / "aro_index.tsv").write_text("ARO Accession\tModel Name\n")
    for model in DEFAULT_MODELS:
        entries = models.get(model, [])
        (folder / f"protein_fasta_{model}_model.fasta").write_text("".join(f">gb|{acc}|ARO:300000{k}|{name} [Testa]\n{seq}\n" for k, (acc, name, seq) in enumerate(entries)))


@pytest.mark.tools
def test_homologs_at_the_thresholds_get_the_closest_model(tmp_path, mmseqs):
    rng = np.random.default_rng(5)
    gyra, marr = random_protein(rng, 300), random_protein(rng, 150)
    write_card(tmp_path / "card", {"protein_variant": [("V1.1", "Tst_gyrA_FLO", gyra)], "protein_overexpression": [("O1.1", "Tst_marR_MULT", marr)]})
    models = read_mutation_models(tmp_path / "card")
    assert models == {"Tst_gyrA_FLO": gyra, "Tst_marR_MULT": marr}
    queries = {
        "gyrA_70": mutate(rng, gyra, 0.3),          # ~70 % identity over the whole length: a homolog
        "marR_55": mutate(rng, marr, 0.45),         # ~55 %
        "gyrA_fragment": gyra[:120],                # identical but covers 40 % of the model: not the family test
        "gyrA_remote": mutate(rng, gyra, 0.8),      # ~20 %: below min_identity
        "unrelated": random_protein(rng, 250),
    }
    marked = mutation_model_of(queries, models, CFG, threads=1)
    assert marked == {"gyrA_70": "Tst_gyrA_FLO", "marR_55": "Tst_marR_MULT", "gyrA_fragment": "", "gyrA_remote": "", "unrelated": ""}


def test_a_bad_card_header_or_missing_model_file_is_one_line_naming_the_file(tmp_path):
    write_card(tmp_path / "card", {})
    (tmp_path / "card" / "protein_fasta_protein_variant_model.fasta").write_text(">not a card header\nMKV\n")
    with pytest.raises(InputError, match="protein_fasta_protein_variant_model.fasta.*not a card header") as err:
        read_mutation_models(tmp_path / "card")
    assert "\n" not in str(err.value)
    (tmp_path / "card" / "protein_fasta_protein_variant_model.fasta").unlink()
    with pytest.raises(InputError, match="protein_fasta_protein_variant_model.fasta not found"):
        read_mutation_models(tmp_path / "card")
    (tmp_path / "card" / "protein_fasta_protein_variant_model.fasta").write_text("")
    with pytest.raises(InputError, match="no protein in the CARD models"):
        read_mutation_models(tmp_path / "card")


@pytest.mark.realdata
def test_the_shared_card_release_names_its_housekeeping_resistance_models():
    folder = SHARED_ARG / "card_v3.2.4"
    if not (folder / "aro_index.tsv").exists():
        pytest.skip(f"shared CARD release not found at {folder}")
    models = read_mutation_models(folder)
    assert len(models) >= 190  # 174 variant + 13 overexpression + 19 knockout proteins in 3.2.4
    for name in ("Paer_gyrA_FLO", "Spne_PBP2x_AMX", "Saur_rpoB_RIF", "Ecol_MarR_MULT"):
        assert name in models and len(models[name]) > 100, name

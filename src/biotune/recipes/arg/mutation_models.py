"""Which records belong to a gene family whose resistance needs mutations or a change of expression.

CARD's protein *variant*, *overexpression* and *knockout* models (GyrA, ParC, RpoB, PBP2x, EF-Tu, FusA,
MarR, SoxR, MexZ, …) are wild-type housekeeping proteins or regulators: every bacterial genome carries
homologs of them, and a homolog confers resistance only with specific mutations (or when over-expressed
or lost), which sequence similarity alone cannot see. RGI reports such models only with the mutation,
AMRFinderPlus only with ``--organism`` point-mutation screening. Curated ARG databases (HMD-ARG-DB) also
list resistant alleles of these genes as ARGs; the column ``mutation_model`` marks every record that is
a homolog of such a model (MMseqs2, >= ``min_identity`` over >= ``min_coverage`` of both sequences) with
the model's CARD short name, so that a method can tell "near a resistant allele" from "an ARG family".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from biotune.data.dataset import MUTATION_MODEL_COLUMN
from biotune.errors import InputError
from biotune.homology import mmseqs
from biotune.io.fasta import read_fasta
from biotune.recipes.arg.importers import CARD_HEADER, CARD_INDEX, locate_file
from biotune.recipes.homology_folds import best_hits, similar_pairs

COLUMN = MUTATION_MODEL_COLUMN
#: CARD models whose proteins confer resistance only with mutations or a change of expression.
DEFAULT_MODELS = ("protein_variant", "protein_overexpression", "protein_knockout")
DOC = (
    "CARD short name of the variant / overexpression / knockout model (resistance by mutation or expression, "
    "not by the gene itself) this record is a homolog of; empty when none"
)


def read_mutation_models(folder: str | Path, models: Sequence[str] = DEFAULT_MODELS) -> dict[str, str]:
    """``{model name: sequence}`` of the CARD release under ``folder`` (name = the header's name without the organism)."""
    index = locate_file(folder, CARD_INDEX)
    out: dict[str, str] = {}
    for model in models:
        fasta = locate_file(index.parent, f"protein_fasta_{model}_model.fasta")
        for rec in read_fasta(fasta, allow_empty=True):
            match = CARD_HEADER.match(rec.description)
            if match is None:
                raise InputError("header is not 'gb|ACCESSION|ARO:NNN|NAME'", path=fasta, record=rec.description[:80])
            name = match["name"].split(" [", 1)[0].strip() or match["acc"]
            out[name if name not in out else f"{name}|{match['acc']}"] = rec.sequence
    if not out:
        raise InputError(f"no protein in the CARD models {', '.join(models)}", path=index.parent)
    return out


def mutation_model_of(sequences: Mapping[str, str], models: Mapping[str, str], cfg: Mapping[str, Any], threads: int | None = None) -> dict[str, str]:
    """Per record id, the best mutation model (highest identity, then bitscore, then name) at the thresholds, else ''."""
    hits = mmseqs.search(
        dict(sequences), dict(models), min_seq_id=float(cfg["min_identity"]), coverage=float(cfg["min_coverage"]), cov_mode=0,
        sensitivity=float(cfg["sensitivity"]), max_seqs=int(cfg.get("max_seqs", 20)), threads=threads,
    )
    named = best_hits(similar_pairs(hits, float(cfg["min_identity"]), float(cfg["min_coverage"])))["target"]
    return {i: named.get(i, "") for i in sequences}


def mutation_model_column(root: Path, sequences: Mapping[str, str], cfg: Mapping[str, Any] | None, threads: int | None = None) -> pd.Series | None:
    """The :data:`COLUMN` values of ``sequences`` (build config section ``mutation_models``; ``None`` when unset)."""
    if not cfg:
        return None
    models = read_mutation_models(root / cfg["card"], cfg.get("models", DEFAULT_MODELS))
    return pd.Series(mutation_model_of(sequences, models, cfg, threads))

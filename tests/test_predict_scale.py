"""``biotune predict`` on a local Ray cluster of 2 workers (real Ray, real bundles, real DIAMOND): the output of
several inputs is byte-identical to a run in one process, and both workers score chunks."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from predict_fixtures import contig_with_gene, synthetic_arg_table, write_fasta_text
from test_predict import bundle_dir, protein_input, settings  # noqa: F401 (bundle_dir: the kmer_lr bundle fixture)
from test_predict_fusion import trained  # noqa: F401 (the fusion bundle fixture)

from biotune.errors import InputError
from biotune.predict.annotation_bundle import load_bundle
from biotune.predict.pipeline import annotate_inputs, output_folders
from biotune.predict.scale import RayScorer

pytestmark = pytest.mark.tools

BIOTUNE = Path(sys.executable).with_name("biotune")
OUTPUTS = ("predictions.tsv", "hamronization.tsv")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[Path]:
    """Three protein files and a contig file carrying two known ARGs."""
    root = tmp_path_factory.mktemp("inputs")
    paths = [write_fasta_text(root / f"sample{k}.faa", protein_input(random.Random(40 + k))) for k in range(3)]
    rng = random.Random(7)
    args = synthetic_arg_table().query("is_arg == '1'")["sequence"].tolist()
    contigs = [(f"contig{k}", contig_with_gene(rng, args[k * 5])[0]) for k in range(2)]
    return [*paths, write_fasta_text(root / "assembly.fna", contigs)]


def outputs(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in OUTPUTS}


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray instance of 2 CPUs for the module: the scorers attach to it (starting Ray costs seconds)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("which", ["kmer_lr", "fusion"])
def test_ray_workers_write_what_one_process_writes(ray_local, bundle_dir, trained, inputs, tmp_path, which):  # noqa: F811
    model = bundle_dir if which == "kmer_lr" else trained[0]
    bundle, chosen = load_bundle(model), settings("chunk_size=8", "threads=1")
    local = annotate_inputs(inputs, bundle, tmp_path / "local", chosen, hamronization=True)
    with RayScorer(model, chosen, address="local", workers=2) as scorer:
        remote = annotate_inputs(inputs, bundle, tmp_path / "ray", chosen, scorer=scorer, concurrent=2, hamronization=True)
        per_worker = scorer.chunks_per_worker()
    chunks = sum(-(-sum(s.statuses.values()) // 8) for s, _ in local)  # every query in a chunk of 8, per input
    assert len(per_worker) == 2 and min(per_worker) > 0 and sum(per_worker) == chunks
    for (a, _), (b, files), folder in zip(local, remote, output_folders(inputs, tmp_path / "ray")):
        assert files["predictions.tsv"].parent == folder
        assert (a.proteins, a.arg_calls) == (b.proteins, b.arg_calls)
    assert sum(s.arg_calls for s, _ in local) > 0  # the fusion bundle knows other families than the contigs' ARGs
    for folder_a, folder_b in zip(output_folders(inputs, tmp_path / "local"), output_folders(inputs, tmp_path / "ray")):
        assert outputs(folder_a) == outputs(folder_b), folder_b.name
    assert [p.name for p in output_folders(inputs, tmp_path)] == ["sample0", "sample1", "sample2", "assembly"]


def test_cli_several_inputs_on_a_local_ray_cluster(ray_local, bundle_dir, inputs, tmp_path):  # noqa: F811
    common = ["-m", str(bundle_dir), "-q", "--threads", "1", "--chunk-size", "8"]
    local = subprocess.run([str(BIOTUNE), "predict", *map(str, inputs), "-o", str(tmp_path / "local"), *common], capture_output=True, text=True)
    assert local.returncode == 0, local.stderr
    ray = subprocess.run(
        [str(BIOTUNE), "predict", *map(str, inputs), "-o", str(tmp_path / "ray"), *common, "--ray", "local", "--workers", "2"],
        capture_output=True, text=True, timeout=600,
    )
    assert ray.returncode == 0, ray.stderr
    for name in ("sample0", "assembly"):
        assert (tmp_path / "ray" / name / "predictions.tsv").read_bytes() == (tmp_path / "local" / name / "predictions.tsv").read_bytes()


def test_inputs_sharing_a_name_or_workers_without_ray_are_one_line_errors(bundle_dir, inputs, tmp_path):  # noqa: F811
    twin = tmp_path / "other"
    twin.mkdir()
    same_name = twin / inputs[0].name
    same_name.write_bytes(inputs[0].read_bytes())
    with pytest.raises(InputError, match="same output folder 'sample0'"):
        output_folders([inputs[0], same_name], tmp_path / "out")
    proc = subprocess.run([str(BIOTUNE), "predict", str(inputs[0]), "-o", str(tmp_path / "o"), "-m", str(bundle_dir), "--workers", "2"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: --workers needs --ray and at least 1 worker", proc.stderr

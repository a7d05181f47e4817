"""Faults ``biotune predict`` must survive (issue 17, item 4), each made for real on a real file.

Damaged model bundles (cut, overwritten or missing files; the HMM library and DIAMOND databases of
a fusion bundle), a damaged embedding cache, a full disk, two runs into one output folder, a run
killed while it writes. Each ends in a clear one-line error naming the file — checked on the real
``biotune`` command's stderr where the message is what matters — or in a safe recovery; none in a
silently different result. docs/faults.md lists them with what the user saw before.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis import strategies as st
from predict_fixtures import synthetic_arg_table, write_fasta_text
from test_predict import bundle_dir, protein_input, settings  # noqa: F401 (bundle_dir: the kmer_lr bundle fixture)
from test_predict_fusion import trained  # noqa: F401 (the fusion bundle fixture)

from biotune.errors import InputError, ToolError
from biotune.predict.annotation_bundle import BUNDLE_FILE, MANIFEST_KEY, load_bundle
from biotune.predict.checkpoints import CHECKPOINT_DIR
from biotune.predict.pipeline import annotate
from biotune.predict.writers import LOCK_FILE

pytestmark = pytest.mark.tools

BIOTUNE = Path(sys.executable).with_name("biotune")
REBUILD = re.escape("restore the bundle or build it again (biotune arg train-default --force)")
DB_HINT = re.escape("delete it: biotune rebuilds it from the bundle's reference sequences")


# ------------------------------------------------------------------------------------------------
# helpers


def corrupt(path: Path, how: str, *, where: float = 0.5, mask: int = 0xFF) -> Path:
    """Damage a real file: ``cut`` (the part before ``where`` kept: the first half by default), ``flip`` (the byte
    at ``where`` xor ``mask``), ``append`` (two bytes added), ``garbage_mid`` / ``zeros_mid`` (4 KiB in the middle
    overwritten, same size), ``garbage`` (all of it), ``invalid_json``, ``edited_json`` (a value changed, still
    JSON), ``reformatted_json`` (same values, other layout), ``missing``."""
    data = bytearray(path.read_bytes()) if path.exists() else bytearray()
    n = len(data)
    noise = random.Random(0).randbytes
    if how == "cut":
        path.write_bytes(bytes(data[: int(where * n)]))
    elif how == "flip":
        if n:
            data[int(where * n)] ^= mask
        path.write_bytes(bytes(data))
    elif how == "append":
        path.write_bytes(bytes(data) + b"\n0")
    elif how in ("garbage_mid", "zeros_mid"):
        k = min(4096, n // 4)
        data[n // 2 : n // 2 + k] = noise(k) if how == "garbage_mid" else bytes(k)
        path.write_bytes(bytes(data))
    elif how == "garbage":
        path.write_bytes(noise(n))
    elif how == "invalid_json":
        path.write_text('{"format": "biotune-arg-annotation-bundle", oops')
    elif how in ("edited_json", "reformatted_json"):
        manifest = json.loads(data)
        manifest["model_version"] += "-edited" if how == "edited_json" else ""
        path.write_text(json.dumps(manifest, indent=4 if how == "reformatted_json" else 2))
    elif how == "missing":
        path.unlink()
    else:
        raise ValueError(how)
    return path


def damaged_copy(bundle: Path, tmp_path: Path, relative: str, how: str, *, checksums: bool = True) -> Path:
    """A copy of ``bundle`` with ``relative`` damaged; ``checksums=False`` drops the file records from
    ``bundle.json``, as in a bundle written before they were recorded."""
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    if not checksums:
        manifest = json.loads((copy / BUNDLE_FILE).read_text())
        del manifest["files"], manifest[MANIFEST_KEY]
        (copy / BUNDLE_FILE).write_text(json.dumps(manifest))
    corrupt(copy / relative, how)
    return copy


def biotune(*args: str, preexec_fn=None) -> subprocess.CompletedProcess:
    """The real ``biotune`` command; stderr is not a terminal, as in a pipeline or a log file."""
    return subprocess.run([str(BIOTUNE), *args], capture_output=True, text=True, timeout=300, preexec_fn=preexec_fn)


def start_predict(fasta: Path, bundle: Path, out: Path, *extra: str) -> subprocess.Popen:
    command = [str(BIOTUNE), "predict", str(fasta), "-o", str(out), "-m", str(bundle), "-q", "--threads", "1", *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def predict_cli(fasta: Path, bundle: Path, out: Path, *extra: str, preexec_fn=None) -> subprocess.CompletedProcess:
    return biotune("predict", str(fasta), "-o", str(out), "-m", str(bundle), "-q", "--threads", "1", *extra, preexec_fn=preexec_fn)


def assert_one_line_error(proc: subprocess.CompletedProcess, pattern: str) -> str:
    """Exit status 2, no traceback, exactly one ``error:`` line on stderr, matching ``pattern`` whole."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert re.fullmatch(f"error: {pattern}", lines[0]), lines[0]
    assert proc.returncode == 2
    return lines[0]


def assert_one_line(exc: BaseException, pattern: str) -> None:
    assert "\n" not in str(exc) and re.fullmatch(pattern, str(exc)), str(exc)


def leftovers(out: Path) -> list[str]:
    """Temporary files and the lock: what a finished or failed run must not leave behind."""
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return write_fasta_text(tmp_path_factory.mktemp("input") / "sample.faa", protein_input(random.Random(1)))


@pytest.fixture(scope="module")
def long_sample(tmp_path_factory) -> Path:
    """Enough proteins that a run with --chunk-size 2 is still writing when the test acts on it."""
    records = [(f"{rid}_{k}", seq) for k in range(3) for rid, seq in protein_input(random.Random(20 + k))]
    return write_fasta_text(tmp_path_factory.mktemp("long") / "long.faa", records)


@pytest.fixture(scope="module")
def fusion_bundle(trained) -> Path:  # noqa: F811
    return trained[0]


@pytest.fixture(scope="module")
def intact_output(bundle_dir, sample, tmp_path_factory) -> str:  # noqa: F811
    """predictions.tsv of the intact kmer_lr bundle on ``sample``."""
    _, files = annotate(sample, load_bundle(bundle_dir), tmp_path_factory.mktemp("intact"), settings())
    return files["predictions.tsv"].read_text()


# ------------------------------------------------------------------------------------------------
# a. damaged bundle


@pytest.mark.parametrize(
    "relative, how, message",
    [
        (BUNDLE_FILE, "cut", r"not valid JSON, file truncated or damaged \((Unterminated string|Expecting) .*\); {rebuild}"),
        ("models.joblib", "cut", r"bundle file truncated or damaged: \d+ bytes where bundle\.json records \d+; {rebuild}"),
    ],
    ids=["bundle.json-cut", "models.joblib-cut"],
)
def test_cli_damaged_bundle_is_one_line_naming_the_file(bundle_dir, sample, tmp_path, relative, how, message):  # noqa: F811
    bundle = damaged_copy(bundle_dir, tmp_path, relative, how)
    proc = predict_cli(sample, bundle, tmp_path / "out")
    assert_one_line_error(proc, re.escape(f"{bundle / relative}: ") + message.format(rebuild=REBUILD))
    assert not (tmp_path / "out").exists(), "nothing written"


@pytest.mark.parametrize(
    "relative, how, message",
    [
        (BUNDLE_FILE, "invalid_json", r"not valid JSON, file truncated or damaged \(Expecting .*\); {rebuild}"),
        (BUNDLE_FILE, "edited_json", r"bundle file damaged: its content differs from the SHA-256 it records; {rebuild}"),
        ("models.joblib", "garbage_mid", r"bundle file damaged: its SHA-256 differs from the one bundle\.json records; {rebuild}"),
        ("models.joblib", "missing", r"bundle file missing \(bundle\.json lists it\); {rebuild}"),
        ("reference/labels.tsv", "cut", r"bundle file truncated or damaged: \d+ bytes where bundle\.json records \d+; {rebuild}"),
    ],
    ids=["bundle.json-invalid", "bundle.json-value-edited", "models.joblib-overwritten", "models.joblib-missing", "labels.tsv-cut"],
)
def test_damaged_bundle_file_is_named(bundle_dir, tmp_path, relative, how, message):  # noqa: F811
    bundle = damaged_copy(bundle_dir, tmp_path, relative, how)
    with pytest.raises(InputError) as caught:
        load_bundle(bundle)
    assert_one_line(caught.value, re.escape(f"{bundle / relative}: ") + message.format(rebuild=REBUILD))


def test_reformatted_manifest_still_loads(bundle_dir, sample, intact_output, tmp_path):  # noqa: F811
    """The manifest checksum is over its values, not its layout: re-indented, the bundle predicts the same."""
    bundle = damaged_copy(bundle_dir, tmp_path, BUNDLE_FILE, "reformatted_json")
    _, files = annotate(sample, load_bundle(bundle), tmp_path / "out", settings())
    assert files["predictions.tsv"].read_text() == intact_output


@pytest.mark.parametrize(
    "relative, how, names_file, message",
    [
        ("models.joblib", "cut", False, r"cannot load the bundle's method, a file of it is truncated or damaged \(\w+: .*\); {rebuild}"),
        ("models.joblib", "missing", True, r"bundle file missing; {rebuild}"),
        ("reference/labels.tsv", "cut", True, r"reference labels truncated or damaged: \d+ rows where bundle\.json records 120 reference sequences; {rebuild}"),
    ],
    ids=["models.joblib-cut", "models.joblib-missing", "labels.tsv-cut-at-a-line-end"],
)
def test_bundle_without_checksums_still_fails_clearly(bundle_dir, tmp_path, relative, how, names_file, message):  # noqa: F811
    """Bundles written before the checksums: the readers' own errors, one line (the unpickler does not say which file)."""
    bundle = damaged_copy(bundle_dir, tmp_path, relative, how, checksums=False)
    if relative.endswith("labels.tsv"):  # cut at a line end: it still parses, only the row count tells
        text = (bundle / relative).read_text()
        (bundle / relative).write_text(text[: text.rindex("\n") + 1])
    with pytest.raises(InputError) as caught:
        load_bundle(bundle)
    where = bundle / relative if names_file else bundle
    assert_one_line(caught.value, re.escape(f"{where}: ") + message.format(rebuild=REBUILD))


BUNDLE_DAMAGE = st.tuples(
    st.integers(0, 10**6),  # which file (index into the bundle's files, modulo their number)
    st.sampled_from(["cut", "flip", "append", "missing"]),
    st.floats(0.0, 1.0, exclude_max=True),  # where
    st.integers(1, 255),  # xor mask of the flipped byte (never a no-op)
)


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(damage=BUNDLE_DAMAGE)
def test_any_damage_to_any_bundle_file_is_a_clear_error_or_changes_nothing(bundle_dir, sample, intact_output, damage):  # noqa: F811
    """Cut, one flipped byte, bytes appended, or a file deleted — in any file of a bundle, ``bundle.json``
    included: loading fails with one line naming the bundle, or the predictions are the intact bundle's.
    Never a silently different result."""
    index, how, where, mask = damage
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "bundle"
        shutil.copytree(bundle_dir, copy)
        files = sorted(p for p in copy.rglob("*") if p.is_file())
        target = files[index % len(files)]
        at = int(where * target.stat().st_size)
        corrupt(target, how, where=where, mask=mask)
        try:
            _, outputs = annotate(sample, load_bundle(copy), Path(tmp) / "out", settings())
        except InputError as exc:
            assert_one_line(exc, re.escape(str(copy)) + r"\S*: .+")
            return
        assert outputs["predictions.tsv"].read_text() == intact_output, f"{how} {target.relative_to(copy)} at {at}: silently different predictions"


def test_fusion_stacker_cut_is_named(fusion_bundle, tmp_path):
    bundle = damaged_copy(fusion_bundle, tmp_path, "stacker.joblib", "cut")
    with pytest.raises(InputError) as caught:
        load_bundle(bundle)
    assert_one_line(caught.value, re.escape(f"{bundle / 'stacker.joblib'}: bundle file truncated or damaged: ") + r"\d+ bytes .*")


# ------------------------------------------------------------------------------------------------
# c. damaged HMM library of a fusion bundle

HMM_DIR = "bases/hmm/library"


def test_cli_cut_profile_hmm_file_is_one_line(fusion_bundle, sample, tmp_path):
    bundle = damaged_copy(fusion_bundle, tmp_path, f"{HMM_DIR}/profiles.hmm", "cut")
    proc = predict_cli(sample, bundle, tmp_path / "out")
    assert_one_line_error(
        proc, re.escape(f"{bundle / HMM_DIR / 'profiles.hmm'}: bundle file truncated or damaged: ") + rf"\d+ bytes where bundle\.json records \d+; {REBUILD}"
    )


@pytest.mark.parametrize(
    "name, how, checksums, message",
    [
        ("profiles.json", "invalid_json", True, r"bundle file truncated or damaged: \d+ bytes where bundle\.json records \d+; .*"),
        ("profiles.hmm", "garbage_mid", True, r"bundle file damaged: its SHA-256 differs from the one bundle\.json records; .*"),
        # without checksums, the library's own reader catches them
        ("profiles.hmm", "cut", False, r"(truncated or mismatched: \d+ profiles read, \d+ listed in profiles\.json|cannot read profile HMMs, file truncated or damaged .*)"),
        ("profiles.json", "invalid_json", False, r"not a profile library index \(Expecting .*\)"),
    ],
    ids=["profiles.json-invalid", "profiles.hmm-overwritten", "no-checksums-profiles.hmm-cut", "no-checksums-profiles.json-invalid"],
)
def test_damaged_profile_library(fusion_bundle, tmp_path, name, how, checksums, message):
    bundle = damaged_copy(fusion_bundle, tmp_path, f"{HMM_DIR}/{name}", how, checksums=checksums)
    with pytest.raises(InputError) as caught:
        load_bundle(bundle)
    assert_one_line(caught.value, re.escape(f"{bundle / HMM_DIR / name}: ") + message)


# ------------------------------------------------------------------------------------------------
# d. damaged DIAMOND database


def test_cli_overwritten_diamond_database_then_rebuilt(bundle_dir, sample, intact_output, tmp_path):  # noqa: F811
    """Zeros in the middle of a .dmnd: DIAMOND reads it without a word and finds other hits (seen before the
    checksums). Now an error naming it; deleted as the message says, it is rebuilt, identical."""
    relative = "reference/sequences.dmnd"
    bundle = damaged_copy(bundle_dir, tmp_path, relative, "zeros_mid")
    proc = predict_cli(sample, bundle, tmp_path / "out")
    assert_one_line_error(proc, re.escape(f"{bundle / relative}: DIAMOND database damaged: ") + rf"its SHA-256 differs from the one bundle\.json records; {DB_HINT}")
    (bundle / relative).unlink()
    _, files = annotate(sample, load_bundle(bundle), tmp_path / "out", settings())
    assert files["predictions.tsv"].read_text() == intact_output
    assert (bundle / relative).read_bytes() == (bundle_dir / relative).read_bytes(), "rebuilt byte for byte"
    load_bundle(bundle)  # and it passes the check


def test_cut_fusion_alignment_database(fusion_bundle, tmp_path):
    relative = "bases/alignment/references.dmnd"
    bundle = damaged_copy(fusion_bundle, tmp_path, relative, "cut")
    with pytest.raises(InputError) as caught:
        load_bundle(bundle)
    assert_one_line(caught.value, re.escape(f"{bundle / relative}: DIAMOND database truncated or damaged: ") + rf"\d+ bytes .*; {DB_HINT}")


@pytest.mark.parametrize("how", ["cut", "garbage"])
def test_diamond_error_on_a_bundle_without_checksums_is_one_line(bundle_dir, sample, tmp_path, how):  # noqa: F811
    relative = "reference/sequences.dmnd"
    bundle = damaged_copy(bundle_dir, tmp_path, relative, how, checksums=False)
    with pytest.raises(ToolError) as caught:
        annotate(sample, load_bundle(bundle), tmp_path / "out", settings())
    assert_one_line(
        caught.value,
        re.escape(f"{bundle / relative}: diamond failed (exit 1): blastp -q ...: Error: ")
        + r".+ \(the database file is truncated, damaged or not a DIAMOND database\)",
    )
    assert not (tmp_path / "out" / "predictions.tsv").exists() and leftovers(tmp_path / "out") == []


# ------------------------------------------------------------------------------------------------
# b. damaged embedding cache


@pytest.mark.usefixtures("embed_one_thread")
def test_damaged_embedding_cache_is_moved_aside_and_recomputed(tiny_esm_dir, tmp_path, caplog):
    """Cut in half, all garbage (HDF5 cannot open it), garbage over a chunk of vectors (a checksum fails),
    garbage over the index (HDF5's metadata): each time the file is moved aside and the embeddings
    recomputed — identical to a run without a cache, never the damaged vectors."""
    import h5py
    import numpy as np

    from biotune.embed import embed_sequences
    from biotune.models.backbones.esm import load_esm

    tiny = load_esm(str(tiny_esm_dir))
    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), size=int(n))) for n in rng.integers(20, 60, size=6)]
    ids = [f"s{i}" for i in range(len(seqs))]
    expected = embed_sequences(ids, seqs, tiny)

    def damage(path: Path, how: str) -> None:
        if how in ("cut", "garbage"):
            corrupt(path, how)
            return
        with h5py.File(path, "r") as f:
            (space,) = f["spaces"].values()
            offset = space["vectors"].id.get_chunk_info(0).byte_offset if how == "vectors" else h5py.h5o.get_info(f["spaces"].id).addr
        data = bytearray(path.read_bytes())
        data[offset : offset + 64] = random.Random(1).randbytes(64)
        path.write_bytes(bytes(data))

    for how in ("cut", "garbage", "vectors", "index"):
        cache = tmp_path / how / "cache.h5"
        cache.parent.mkdir()
        embed_sequences(ids, seqs, tiny, cache_path=cache)
        damage(cache, how)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            again = embed_sequences(ids, seqs, tiny, cache_path=cache)
        np.testing.assert_allclose(again, expected, atol=1e-6, err_msg=how)
        assert re.search(r"embedding cache .*cache\.h5 (could not be opened|is damaged) .*: moved aside to .*cache\.h5\.corrupt-\d{8}-\d{6}", caplog.text), how
        assert len(list(cache.parent.glob("cache.h5.corrupt-*"))) == 1, how
        np.testing.assert_allclose(embed_sequences(ids, seqs, tiny, cache_path=cache), expected, atol=1e-6, err_msg=how)


# ------------------------------------------------------------------------------------------------
# e. disk full


def test_cli_output_on_dev_full_is_one_line(bundle_dir, sample):  # noqa: F811
    proc = predict_cli(sample, bundle_dir, Path("/dev/full"))
    assert_one_line_error(proc, re.escape("/dev/full: output folder is not a folder (a file of that name exists)"))


def _file_size_limit(limit: int):
    def apply() -> None:  # in the child: a write past the limit fails with EFBIG instead of killing it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_cli_disk_full_keeps_the_previous_outputs(bundle_dir, long_sample, tmp_path):  # noqa: F811
    """A file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes the output writes fail as on a full disk; the
    DIAMOND query files of a 10-protein chunk stay under it."""
    out = tmp_path / "out"
    annotate(long_sample, load_bundle(bundle_dir), out, settings())
    before = {name: (out / name).read_bytes() for name in ("predictions.tsv", "predictions.json", "report.html")}
    assert len(before["predictions.json"]) > 2 * 16_384
    proc = predict_cli(long_sample, bundle_dir, out, "--chunk-size", "10", preexec_fn=_file_size_limit(16_384))
    assert_one_line_error(
        proc, re.escape(f"{out}/") + r"(predictions\.tsv|predictions\.json|report\.html): "
        + re.escape("cannot write the output (File too large); the run stopped and left no partial file"),
    )
    assert {name: (out / name).read_bytes() for name in before} == before, "the previous run's files are untouched"
    assert leftovers(out) == [CHECKPOINT_DIR], "no temporary file, no lock; the chunks scored before the disk filled, for --resume"


# ------------------------------------------------------------------------------------------------
# f. two runs into one output folder


def test_cli_second_run_into_a_busy_folder_is_refused(bundle_dir, long_sample, sample, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    first = start_predict(long_sample, bundle_dir, out, "--chunk-size", "2")
    try:
        wait_for(lambda: _holder_written(out / LOCK_FILE))
        first.send_signal(signal.SIGSTOP)  # holds the folder for as long as the second run needs
        second = predict_cli(sample, bundle_dir, out)
    finally:
        first.send_signal(signal.SIGCONT)
    assert_one_line_error(
        second, re.escape(f"{out}: output folder in use by another biotune predict (pid {first.pid}); wait for it to finish or choose another --out")
    )
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    ids = [line.split("\t")[1] for line in (out / "predictions.tsv").read_text().splitlines()[1:]]
    assert ids == [line[1:] for line in long_sample.read_text().splitlines() if line.startswith(">")], "the first run's rows only"
    json.loads((out / "predictions.json").read_text())
    assert leftovers(out) == []


def _holder_written(lock: Path) -> bool:
    try:
        return bool(lock.read_text().strip())
    except FileNotFoundError:
        return False


def test_stale_lock_of_a_dead_process_is_taken_over(bundle_dir, sample, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (out / LOCK_FILE).write_text(f"{dead.pid} {os.uname().nodename}\n")
    _, files = annotate(sample, load_bundle(bundle_dir), out, settings())
    assert files["predictions.tsv"].exists() and leftovers(out) == []


# ------------------------------------------------------------------------------------------------
# g. atomic outputs


def test_cli_killed_run_never_leaves_a_partial_file_under_a_final_name(bundle_dir, long_sample, sample, intact_output, tmp_path):  # noqa: F811
    """SIGKILL mid-write: the final names keep the previous run's files; the next run removes the dead run's
    temporary files and takes its lock over. SIGTERM: the run cleans up itself (exit status 143)."""
    out = tmp_path / "out"
    annotate(sample, load_bundle(bundle_dir), out, settings())
    before = {name: (out / name).read_bytes() for name in ("predictions.tsv", "predictions.json", "report.html")}

    def writing(stale: set[Path]) -> bool:  # this run's temporary JSON file (not the killed run's) has data
        partial = [p for p in out.glob(".predictions.json.*.partial") if p not in stale]
        return any(p.stat().st_size > 2000 for p in partial if p.exists())

    for sig, status in ((signal.SIGKILL, -signal.SIGKILL), (signal.SIGTERM, 128 + signal.SIGTERM)):
        stale = set(out.glob(".*.partial"))
        run = start_predict(long_sample, bundle_dir, out, "--chunk-size", "2")
        wait_for(lambda: writing(stale))
        run.send_signal(sig)
        _, err = run.communicate(timeout=300)
        assert run.returncode == status, err
        assert {name: (out / name).read_bytes() for name in before} == before, sig
        if sig == signal.SIGKILL:
            assert LOCK_FILE in leftovers(out) and any(n.endswith(".partial") for n in leftovers(out))
        else:
            assert "Traceback" not in err and leftovers(out) == [CHECKPOINT_DIR], "only the checkpoints, kept for --resume"

    _, files = annotate(sample, load_bundle(bundle_dir), out, settings())
    assert files["predictions.tsv"].read_text() == intact_output and leftovers(out) == []


def test_exception_mid_run_leaves_no_output(bundle_dir, tmp_path):  # noqa: F811
    """Input that breaks after some chunks were written (a gzip cut short): no file under a final name."""
    records = [(f"p{i}", s) for i, s in enumerate(synthetic_arg_table()["sequence"])]
    path = tmp_path / "cut.faa.gz"
    path.write_bytes(gzip.compress("".join(f">{r}\n{s}\n" for r, s in records).encode())[:-200])
    out = tmp_path / "out"
    progress = []
    with pytest.raises(InputError, match="truncated"):
        annotate(path, load_bundle(bundle_dir), out, settings("chunk_size=5"), on_progress=lambda s: progress.append(s.proteins))
    assert progress and progress[-1] >= 50, "chunks were written before the input broke"
    assert [p.name for p in out.iterdir()] == [CHECKPOINT_DIR], f"left {sorted(p.name for p in out.iterdir())}"


# ------------------------------------------------------------------------------------------------
# h. resume after a kill (issue 17, item 3)


class Stop(Exception):
    """Ends a run from its progress callback after some chunks, as a kill would."""


def stop_after(chunks: int):
    seen = []

    def on_progress(summary):
        seen.append(summary.proteins)
        if len(seen) == chunks:
            raise Stop

    return on_progress


def chunk_files(out: Path) -> list[Path]:
    return sorted((out / CHECKPOINT_DIR).glob("chunk-*.json.gz"))


@pytest.mark.parametrize("which", ["kmer_lr", "fusion"])
def test_resumed_run_reads_finished_chunks_back_and_writes_the_uninterrupted_output(bundle_dir, fusion_bundle, long_sample, tmp_path, which):  # noqa: F811
    """A run stopped after 4 chunks of 3 proteins, resumed: 12 proteins read back, the rest scored, and
    predictions.tsv byte-identical to an uninterrupted run's; a damaged checkpoint is scored again."""
    bundle = load_bundle(bundle_dir if which == "kmer_lr" else fusion_bundle)
    _, files = annotate(long_sample, bundle, tmp_path / "whole", settings("chunk_size=3"))
    whole = files["predictions.tsv"].read_bytes()
    assert leftovers(tmp_path / "whole") == [], "checkpoints are deleted with a completed run"
    out = tmp_path / "out"
    with pytest.raises(Stop):
        annotate(long_sample, bundle, out, settings("chunk_size=3"), on_progress=stop_after(4))
    assert len(chunk_files(out)) == 4 and not (out / "predictions.tsv").exists()
    summary, files = annotate(long_sample, bundle, out, settings("chunk_size=3"), resume=True)
    assert summary.resumed_proteins == 12 and files["predictions.tsv"].read_bytes() == whole
    assert json.loads(files["predictions.json"].read_text())["summary"]["resumed_proteins"] == 12
    assert leftovers(out) == []

    with pytest.raises(Stop):
        annotate(long_sample, bundle, out, settings("chunk_size=3"), on_progress=stop_after(3))
    corrupt(chunk_files(out)[1], "cut")
    summary, files = annotate(long_sample, bundle, out, settings("chunk_size=3"), resume=True)
    assert summary.resumed_proteins == 6 and files["predictions.tsv"].read_bytes() == whole


def test_resume_with_other_settings_is_one_line_and_a_fresh_run_discards_old_checkpoints(bundle_dir, long_sample, tmp_path):  # noqa: F811
    bundle, out = load_bundle(bundle_dir), tmp_path / "out"
    with pytest.raises(Stop):
        annotate(long_sample, bundle, out, settings("chunk_size=3"), on_progress=stop_after(2))
    with pytest.raises(InputError) as err:
        annotate(long_sample, bundle, out, settings("chunk_size=4"), resume=True)
    assert_one_line(err.value, r".*--resume: the checkpoints here were made by another run \(different settings\); run without --resume to start over")
    summary, _ = annotate(long_sample, bundle, out, settings("chunk_size=4"))
    assert summary.resumed_proteins == 0 and leftovers(out) == []
    summary, _ = annotate(long_sample, bundle, out, settings("chunk_size=4"), resume=True)  # nothing to resume: a normal run
    assert summary.resumed_proteins == 0


def test_cli_run_killed_with_sigkill_resumes_without_scoring_finished_chunks_again(bundle_dir, long_sample, tmp_path):  # noqa: F811
    whole = tmp_path / "whole"
    assert predict_cli(long_sample, bundle_dir, whole, "--chunk-size", "2").returncode == 0
    out = tmp_path / "out"
    run = start_predict(long_sample, bundle_dir, out, "--chunk-size", "2")
    wait_for(lambda: len(chunk_files(out)) >= 3)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=300)
    done = len(chunk_files(out))
    assert run.returncode == -signal.SIGKILL and not (out / "predictions.tsv").exists()
    resumed = biotune("predict", str(long_sample), "-o", str(out), "-m", str(bundle_dir), "--threads", "1", "--chunk-size", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resumed: {2 * done} proteins read back" in " ".join(resumed.stderr.split())
    assert (out / "predictions.tsv").read_bytes() == (whole / "predictions.tsv").read_bytes()
    assert leftovers(out) == []

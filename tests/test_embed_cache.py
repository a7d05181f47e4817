"""The HDF5 embedding cache: hits do no forward pass, keys separate what differs, crashes are survived."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from biotune.embed import EmbeddingCache, embed_residues, embed_sequences, make_engine
from biotune.models.backbones.esm import load_esm, save_random_esm

RNG = np.random.default_rng(7)
LETTERS = list("ACDEFGHIKLMNPQRSTVWY")
SEQS = ["".join(RNG.choice(LETTERS, size=int(n))) for n in RNG.integers(20, 70, size=24)]
IDS = [f"r{i}" for i in range(len(SEQS))]

pytestmark = pytest.mark.usefixtures("embed_one_thread")


@pytest.fixture(scope="module")
def tiny(tiny_esm_dir):
    return load_esm(str(tiny_esm_dir))


def counted_engine(backbone, **settings):
    """An engine whose model counts its forward calls (``engine.calls``)."""
    engine = make_engine(backbone, **settings)
    engine.calls = []
    engine.model.register_forward_pre_hook(lambda *a: engine.calls.append(1))
    return engine


def test_second_run_reads_everything_from_the_cache(tiny_esm_dir, tmp_path):
    cache_path = tmp_path / "cache.h5"
    first = counted_engine(str(tiny_esm_dir), token_budget=256)
    with EmbeddingCache(cache_path) as cache:
        expected = first.embed(SEQS[:16], cache=cache)
    assert first.calls and first.stats.computed == 16
    second = counted_engine(str(tiny_esm_dir), token_budget=256)
    with EmbeddingCache(cache_path) as cache:
        again = second.embed(SEQS[:16], cache=cache)
        mixed = second.embed(SEQS[8:], cache=cache)
    assert second.stats.computed == 8 and second.stats.cached == 16 + 8
    np.testing.assert_array_equal(again, expected)
    np.testing.assert_array_equal(mixed[:8], expected[8:])
    np.testing.assert_allclose(mixed, embed_sequences(IDS[8:], SEQS[8:], str(tiny_esm_dir)), atol=1e-6)
    third = counted_engine(str(tiny_esm_dir))
    with EmbeddingCache(cache_path) as cache:
        third.embed(SEQS, cache=cache)
    assert third.calls == [], "a fully cached run does no forward pass"


def test_keys_separate_weights_layers_pooling_precision_and_policy(tmp_path):
    cache_path = tmp_path / "cache.h5"
    seed0 = save_random_esm("esm2_tiny", tmp_path / "seed0", seed=0)
    seed1 = save_random_esm("esm2_tiny", tmp_path / "seed1", seed=1)
    short, long_seq = SEQS[0][:30], SEQS[0] * 3
    base = embed_sequences(["a", "b"], [short, long_seq], str(seed0), cache_path=cache_path, max_length=50)
    variants = {
        "other weights": dict(backbone=str(seed1)),
        "other layer": dict(layers=(1,)),
        "other pooling": dict(pool="cls"),
        "truncated": dict(long_policy="truncate"),
    }
    for name, change in variants.items():
        settings = {"backbone": str(seed0), "max_length": 50, **change}
        engine = counted_engine(settings.pop("backbone"), **settings)
        with EmbeddingCache(cache_path) as cache:
            got = engine.embed([short, long_seq], cache=cache)
        if name == "truncated":
            assert engine.stats.computed == 1, "the policy only keys sequences it applies to"
            np.testing.assert_array_equal(got[0], base[0])
        else:
            assert engine.stats.computed == 2, name
        assert not np.allclose(got[1], base[1]), name
    with h5py.File(cache_path) as f:
        assert len(f["spaces"]) == 4


def test_per_residue_cache_is_float16_and_exact_on_reread(tiny, tmp_path):
    cache_path = tmp_path / "cache.h5"
    first = embed_residues(IDS, SEQS, tiny, cache_path=cache_path)
    engine = counted_engine(tiny)
    with EmbeddingCache(cache_path) as cache:
        second = engine.embed(SEQS, cache=cache, per_residue=True)
    assert engine.calls == []
    for a, b, seq in zip(first, second, SEQS, strict=True):
        assert a.dtype == np.float16 and a.shape[0] == len(seq)
        np.testing.assert_array_equal(a, b)


CRASHING_RUN = textwrap.dedent(
    """
    import os, sys
    from biotune.embed import EmbeddingCache, make_engine
    from biotune.embed.cache import CacheSpace

    commits = []
    commit = CacheSpace._commit

    def crash_before_second_commit(self, committed):
        commits.append(committed)
        if len(commits) == 2:
            self.group.file.flush()  # the new rows reach the file, their commit never does
            os._exit(17)
        commit(self, committed)

    CacheSpace._commit = crash_before_second_commit
    model_dir, cache_path, per_residue = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    sequences = sys.stdin.read().split()
    engine = make_engine(model_dir, chunk_residues=200)
    with EmbeddingCache(cache_path) as cache:
        engine.embed(sequences, cache=cache, per_residue=per_residue)
    """
)


def test_crash_mid_write_is_detected_and_resumed(tiny_esm_dir, tmp_path, caplog):
    """A real crash (process exit without closing the file) after new rows were written, before their commit."""
    per_residue = True  # the ragged layout (vectors + offsets) is the harder one to leave consistent
    cache_path = tmp_path / "cache.h5"
    run = subprocess.run(
        [sys.executable, "-c", CRASHING_RUN, str(tiny_esm_dir), str(cache_path), str(int(per_residue))],
        input="\n".join(SEQS), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 17, run.stderr
    with h5py.File(cache_path, "r") as f:
        (space,) = f["spaces"].values()
        committed = int(space.attrs["committed"])
        assert 0 < committed < space["keys"].shape[0], "the crash left an uncommitted tail"
    engine = counted_engine(str(tiny_esm_dir))
    with caplog.at_level(logging.WARNING), EmbeddingCache(cache_path) as cache:
        resumed = engine.embed(SEQS, cache=cache, per_residue=per_residue)
    assert "uncommitted" in caplog.text
    assert engine.stats.cached == committed and engine.stats.computed == len(SEQS) - committed
    fresh = make_engine(str(tiny_esm_dir)).embed(SEQS, per_residue=per_residue)
    for a, b in zip(resumed, fresh, strict=True):
        np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), atol=1e-5, rtol=1e-3)
    with h5py.File(cache_path, "r") as f:
        (space,) = f["spaces"].values()
        assert int(space.attrs["committed"]) == space["keys"].shape[0] == len(SEQS)


def test_unreadable_cache_file_is_moved_aside_not_reused(tiny, tmp_path, caplog):
    cache_path = tmp_path / "cache.h5"
    embed_sequences(IDS[:4], SEQS[:4], tiny, cache_path=cache_path)
    data = cache_path.read_bytes()
    cache_path.write_bytes(data[: len(data) // 3])
    with caplog.at_level(logging.WARNING):
        emb = embed_sequences(IDS[:4], SEQS[:4], tiny, cache_path=cache_path)
    assert "moved aside" in caplog.text
    assert len(list(tmp_path.glob("cache.h5.corrupt-*"))) == 1
    np.testing.assert_allclose(emb, embed_sequences(IDS[:4], SEQS[:4], tiny), atol=1e-6)


def test_same_weights_share_the_cache_whatever_the_path(tiny_esm_dir, tmp_path):
    cache_path = tmp_path / "cache.h5"
    embed_sequences(IDS, SEQS, str(tiny_esm_dir), cache_path=cache_path)
    engine = counted_engine(load_esm(str(tiny_esm_dir)))
    with EmbeddingCache(cache_path) as cache:
        engine.embed(SEQS, cache=cache)
    assert engine.calls == []

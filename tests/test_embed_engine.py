"""The embedding engine against the plain Hugging Face forward of a tiny random ESM-2 (saved and loaded like a checkpoint)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biotune.embed import embed_residues, embed_sequences, make_engine
from biotune.embed.batching import window_starts
from biotune.errors import InputError
from biotune.models.backbones.esm import load_esm

SEQS = [
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVGIGGKLSDGHRHDVRAPDYDDWSTPSELGHAGLNGDILVWNPVLEDAFELSSMGIRVDADTLKHQLALTGDEDRLELEWHQALLRGEMPQTIGGGIGQSRLTMLLLQLPHIGQVQCGVWPAACRESVPALL",
    "MSKGEELFTGVVPILVELDGDVNGHKFSVSGEGEGDATYGKLTLKFICTTGKLPVPWPTLVTTFSYGVQCFSRYPDHMKQHDFFKSAMPEGYVQERTIFF",
    "MKV",
    "ACDEFGHIKLMNPQRSTVWYXBZUO",
    "MSKGEELFTGVVPILVELDGDVNGHKFSVSGEGEGDATYGKLTLKFICTTGKLPVPWPTLVTTFSYGVQCFSRYPDHMKQHDFFKSAMPEGYVQERTIFF",
]
IDS = [f"p{i}" for i in range(len(SEQS))]

pytestmark = pytest.mark.usefixtures("embed_one_thread")


@pytest.fixture(scope="module")
def tiny(tiny_esm_dir):
    return load_esm(str(tiny_esm_dir))


def hf_states(model, tokenizer, sequence: str) -> tuple[torch.Tensor, ...]:
    """Plain HF forward of one sequence (no padding): all hidden states, each (tokens, hidden)."""
    batch = tokenizer([sequence], return_tensors="pt")
    with torch.inference_mode():
        out = model(**batch, output_hidden_states=True)
    return tuple(h[0] for h in out.hidden_states)


def hf_mean(model, tokenizer, sequence: str, layer: int = -1) -> np.ndarray:
    return hf_states(model, tokenizer, sequence)[layer][1:-1].mean(0).numpy()


def test_tokenisation_matches_the_hf_tokenizer(tiny):
    model, tokenizer = tiny
    engine = make_engine(tiny)
    ids, mask = engine.tokens.encode(SEQS)
    reference = tokenizer(SEQS, return_tensors="pt", padding=True)
    assert torch.equal(ids, reference["input_ids"])
    assert torch.equal(mask, reference["attention_mask"])


def test_per_protein_equals_plain_hf_forward_across_padding_and_layers(tiny):
    model, tokenizer = tiny
    forwards = []
    handle = model.register_forward_pre_hook(lambda *a: forwards.append(1))
    emb = embed_sequences(IDS, SEQS, tiny, layers=(-1, 0, 1), token_budget=100_000)
    handle.remove()
    assert len(forwards) == 1, "all sequences fit one padded batch"
    assert emb.shape == (len(SEQS), 3, model.config.hidden_size) and emb.dtype == np.float32
    for i, seq in enumerate(SEQS):
        states = hf_states(model, tokenizer, seq)
        for j, layer in enumerate((-1, 0, 1)):
            np.testing.assert_allclose(emb[i, j], states[layer][1:-1].mean(0).numpy(), atol=2e-5)
    cls = embed_sequences(IDS, SEQS, tiny, pool="cls", token_budget=64)
    for i, seq in enumerate(SEQS):
        np.testing.assert_allclose(cls[i, 0], hf_states(model, tokenizer, seq)[-1][0].numpy(), atol=2e-5)


def test_intermediate_layer_runs_only_the_needed_blocks(tiny):
    model, tokenizer = tiny
    called = []
    handles = [
        block.register_forward_pre_hook(lambda *a, i=i: called.append(i)) for i, block in enumerate(model.encoder.layer)
    ]
    emb = embed_sequences(IDS[:2], SEQS[:2], tiny, layers=(1,))
    for handle in handles:
        handle.remove()
    assert called == [0]
    assert len(model.encoder.layer) == 2, "the caller's model is left intact"
    np.testing.assert_allclose(emb[1, 0], hf_mean(model, tokenizer, SEQS[1], layer=1), atol=2e-5)


def test_per_residue_equals_plain_hf_forward(tiny):
    model, tokenizer = tiny
    residues = embed_residues(IDS, SEQS, tiny, layers=(-1, 1), token_budget=200)
    for seq, got in zip(SEQS, residues, strict=True):
        states = hf_states(model, tokenizer, seq)
        assert got.shape == (len(seq), 2, model.config.hidden_size) and got.dtype == np.float16
        np.testing.assert_allclose(got[:, 0], states[-1][1:-1].numpy(), atol=5e-3, rtol=2e-3)
        np.testing.assert_allclose(got[:, 1], states[1][1:-1].numpy(), atol=5e-3, rtol=2e-3)


def test_long_sequences_are_windowed_and_averaged(tiny):
    model, tokenizer = tiny
    long_seq, max_length, overlap = SEQS[0], 40, 10
    starts = window_starts(len(long_seq), max_length, overlap)
    assert starts[0] == 0 and starts[-1] + max_length == len(long_seq) and len(starts) > 3
    total = np.zeros((len(long_seq), model.config.hidden_size))
    counts = np.zeros(len(long_seq))
    for s in starts:
        total[s : s + max_length] += hf_states(model, tokenizer, long_seq[s : s + max_length])[-1][1:-1].numpy()
        counts[s : s + max_length] += 1
    expected = total / counts[:, None]
    kw = dict(max_length=max_length, window_overlap=overlap, token_budget=300)
    residues = embed_residues(["long", "short"], [long_seq, "MKV"], tiny, **kw)
    np.testing.assert_allclose(residues[0][:, 0], expected, atol=5e-3, rtol=2e-3)
    pooled = embed_sequences(["long", "short"], [long_seq, "MKV"], tiny, **kw)
    np.testing.assert_allclose(pooled[0, 0], expected.mean(0), atol=2e-5)
    np.testing.assert_allclose(pooled[1, 0], hf_mean(model, tokenizer, "MKV"), atol=2e-5)


def test_truncation_policy_keeps_the_first_residues(tiny):
    model, tokenizer = tiny
    emb = embed_sequences(["long"], [SEQS[0]], tiny, max_length=50, long_policy="truncate")
    np.testing.assert_allclose(emb[0, 0], hf_mean(model, tokenizer, SEQS[0][:50]), atol=2e-5)
    residues = embed_residues(["long"], [SEQS[0]], tiny, max_length=50, long_policy="truncate")
    assert residues[0].shape[0] == 50


def test_sdpa_attention_is_what_runs(tiny, monkeypatch):
    calls = []
    original = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    engine = make_engine(tiny)
    assert engine.model.config._attn_implementation == "sdpa"
    engine.embed(SEQS[:2])
    assert len(calls) == engine.model.config.num_hidden_layers


def test_bf16_autocast_stays_close_to_fp32(tiny):
    engine = make_engine(tiny, precision="bf16")
    if engine.precision != "bf16":
        pytest.skip("this CPU has no native bf16 matmuls")
    fp32 = embed_sequences(IDS, SEQS, tiny)[:, 0]
    bf16 = engine.embed(SEQS)[:, 0]
    cosine = (fp32 * bf16).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(bf16, axis=1)
    assert cosine.min() > 0.99
    assert not np.array_equal(fp32, bf16), "bf16 really ran"


def test_identical_sequences_are_computed_once(tiny):
    engine = make_engine(tiny)
    emb = engine.embed(SEQS)
    assert engine.stats.computed == len(set(SEQS))
    assert engine.stats.tokens == sum(len(s) + 2 for s in set(SEQS))
    np.testing.assert_array_equal(emb[1], emb[4])


@pytest.mark.parametrize(
    ("ids", "seqs", "message"),
    [
        (["a", "a"], ["MKV", "MKL"], "duplicate record id"),
        (["a", "b"], ["MKV", ""], "empty sequence"),
        (["a", "b"], ["MKV", "MK1V"], "invalid protein letters"),
    ],
)
def test_bad_input_names_the_record(tiny, ids, seqs, message):
    with pytest.raises(InputError, match=message) as info:
        embed_sequences(ids, seqs, tiny, source="in.faa")
    assert info.value.record in ids and info.value.path == "in.faa"


def test_unusable_settings_are_refused(tiny):
    for bad in (dict(pool="max"), dict(layers=(7,)), dict(long_policy="drop"), dict(max_length=5000)):
        with pytest.raises(ValueError):
            make_engine(tiny, **bad)

"""SequenceModel end to end on tiny models: tokenization, representations, precomputed inputs,
save/load of the trainable part, and learning a toy task with plain torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from biotune.losses import build_loss, build_multitask_loss
from biotune.models.backbones.esm import load_esm
from biotune.models.model import build_model
from biotune.models.pooling import LayerMix
from biotune.tasks import TaskSpec

TASKS = [
    TaskSpec("is_arg", "binary"),
    TaskSpec("drug_class", "multilabel", ("beta-lactam", "tetracycline", "glycopeptide")),
    TaskSpec("mechanism", "multiclass", ("efflux", "inactivation", "target alteration")),
]
SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQ", "MSLEQKKGADIISKILQIQNSIGKTTSPSTLKTKLS", "MNIKKLVAG", "MWWHC"]


def make_cfg(backbone, finetune="frozen", head=None, heads=None, **representation):
    rep = {"pool": "mean", "layers": [-1], "layer_mix": "none"} | representation
    lora = {"r": 2, "alpha": 4, "dropout": 0.0, "target_modules": ["query", "value", "dense"], "layers": None}
    cfg = {
        "backbone": backbone,
        "finetune": {"mode": finetune, "top_n_layers": 1, "lora": lora},
        "representation": rep,
        "head": head or {"name": "linear"},
    }
    if heads:
        cfg["heads"] = heads
    return OmegaConf.create(cfg)


def esm(tiny_esm_dir, max_length=64):
    return {"name": "esm", "checkpoint": str(tiny_esm_dir), "random_init": False, "max_length": max_length}


CNN = {"name": "cnn", "embedding": "learned", "embed_dim": 8, "channels": 16, "kernel_sizes": [5, 3], "n_layers": 2,
       "dropout": 0.0, "max_length": 64}
DRSN = {"name": "drsn", "base_channels": 8, "blocks": 2, "kernel_size": 3, "stride": 2, "downsample_every": 1,
        "attention_layers": 1, "attention_heads": 2, "hidden": 8, "dropout": 0.0}


def test_esm_tokenize_truncates_and_pads(tiny_esm_dir):
    model = build_model(make_cfg(esm(tiny_esm_dir, max_length=10)), TASKS)
    batch = model.tokenize(SEQUENCES)
    _, tokenizer = load_esm(str(tiny_esm_dir))
    assert batch["input_ids"].shape == (4, 12)
    assert batch["attention_mask"].sum(1).tolist() == [12, 12, 11, 7]
    assert batch["input_ids"][3, :7].tolist() == tokenizer("MWWHC")["input_ids"]
    assert batch["input_ids"][3, 7:].eq(tokenizer.pad_token_id).all()


def test_cnn_tokenize_maps_unknown_residues_to_x():
    model = build_model(make_cfg(CNN, finetune="full"), TASKS)
    batch = model.tokenize(["ACX", "acdB", ""])
    assert batch["input_ids"].tolist() == [[1, 2, 21, 0], [1, 2, 3, 21], [0, 0, 0, 0]]
    assert batch["attention_mask"].sum(1).tolist() == [3, 4, 0]


@pytest.mark.parametrize("pool", ["mean", "cls", "max", "attention"])
def test_padding_does_not_change_a_prediction(tiny_esm_dir, pool):
    model = build_model(make_cfg(esm(tiny_esm_dir), head={"name": "mlp", "hidden": 8, "dropout": 0.0}, pool=pool), TASKS)
    model.eval()
    with torch.no_grad():
        together = model(model.tokenize(SEQUENCES))
        alone = model(model.tokenize(SEQUENCES[-1:]))
    for name in alone:
        assert torch.allclose(alone[name], together[name][-1:], atol=1e-5)


def test_layer_mix_weights_sum_to_one_and_mix_layers():
    mix = LayerMix("weighted", 3)
    with torch.no_grad():
        mix.logits.copy_(torch.tensor([0.3, -1.0, 2.0]))
    assert torch.isclose(mix.weights().sum(), torch.tensor(1.0))
    x = torch.randn(2, 3, 5, 4)
    assert torch.allclose(mix(x), torch.einsum("n,bnld->bld", mix.weights(), x))
    assert LayerMix("concat", 3)(x).shape == (2, 5, 12)
    with pytest.raises(ValueError, match="exactly one layer"):
        LayerMix("none", 2)


def test_weighted_layer_mix_is_a_head_parameter(tiny_esm_dir):
    model = build_model(make_cfg(esm(tiny_esm_dir), layers=[0, 1, 2], layer_mix="weighted"), TASKS)
    assert model.representation.mix.logits in model.param_groups()["head"]
    concat = build_model(make_cfg(esm(tiny_esm_dir), layers=[-2, -1], layer_mix="concat"), TASKS)
    assert concat.heads["is_arg"].linear.in_features == 2 * concat.encoder.hidden_size


def test_precomputed_embeddings_give_the_same_logits(tiny_esm_dir):
    """A frozen ESM model scores cached residue or pooled embeddings exactly as it scores sequences."""
    model = build_model(make_cfg(esm(tiny_esm_dir)), TASKS).eval()
    with torch.no_grad():
        batch = model.tokenize(SEQUENCES)
        direct = model(batch)
        encoded = model.encoder(batch, model.layers)
        residues = model({"residue_embeddings": encoded.residues[:, 0], "attention_mask": encoded.mask})
        pooled = model.representation(encoded).pooled
        from_cache = model({"embeddings": pooled[:, None, :]})
    for name in direct:
        assert torch.allclose(direct[name], residues[name], atol=1e-6)
        assert torch.allclose(direct[name], from_cache[name], atol=1e-6)

    standalone = build_model(make_cfg({"name": "precomputed", "hidden_size": model.encoder.hidden_size}), TASKS)
    standalone.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("encoder.")})
    with torch.no_grad():
        again = standalone.eval()({"embeddings": pooled})
    assert torch.allclose(again["mechanism"], direct["mechanism"], atol=1e-6)
    with pytest.raises(ValueError, match="cannot read sequences"):
        standalone.tokenize(SEQUENCES)


def test_precomputed_embeddings_cannot_train_a_backbone(tiny_esm_dir):
    model = build_model(make_cfg(esm(tiny_esm_dir), finetune="lora"), TASKS)
    with pytest.raises(ValueError, match="cannot train a backbone"):
        model({"embeddings": torch.zeros(2, 1, model.encoder.hidden_size)})


def test_per_task_head_override(tiny_esm_dir):
    cfg = make_cfg(esm(tiny_esm_dir), head={"name": "mlp", "hidden": 8}, heads={"drug_class": DRSN, "mechanism": {"hidden": 4}})
    model = build_model(cfg, TASKS)
    assert type(model.heads["drug_class"]).__name__ == "DRSNHead"
    assert model.heads["mechanism"].net[1].out_features == 4
    assert model.heads["is_arg"].net[1].out_features == 8
    logits = model.eval()(model.tokenize(SEQUENCES))
    assert logits["drug_class"].shape == (4, 3)
    with pytest.raises(ValueError, match="unknown tasks"):
        build_model(make_cfg(esm(tiny_esm_dir), heads={"drug_classes": DRSN}), TASKS)


def test_shared_head_runs_once_for_all_tasks(tiny_esm_dir):
    separate = build_model(make_cfg(esm(tiny_esm_dir), head=DRSN), TASKS)
    shared = build_model(make_cfg(esm(tiny_esm_dir), head={**DRSN, "shared": True}), TASKS).eval()
    assert list(shared.heads) == ["shared"]
    assert shared.parameter_counts()["trainable_head"] < separate.parameter_counts()["trainable_head"] / 2
    batch = shared.tokenize(SEQUENCES)
    with torch.no_grad():
        logits = shared(batch)
        features = shared.representation(shared.encoder(batch, shared.layers))
        combined = shared.heads["shared"](features.residues, features.mask)
    assert combined.shape == (4, 1 + 3 + 3)
    assert torch.equal(logits["is_arg"], combined[:, 0])
    assert torch.equal(logits["drug_class"], combined[:, 1:4])
    assert torch.equal(logits["mechanism"], combined[:, 4:7])
    with pytest.raises(ValueError, match="shared"):
        build_model(make_cfg(esm(tiny_esm_dir), head={**DRSN, "shared": True}, heads={"mechanism": {"hidden": 4}}), TASKS)


def _train(model, steps=3):
    loss_fn = build_multitask_loss(OmegaConf.create({"name": "bce"}), TASKS)
    optimizer = torch.optim.AdamW([p for g in model.param_groups().values() for p in g], lr=5e-2)
    batch = model.tokenize(SEQUENCES)
    targets = {"is_arg": torch.tensor([1.0, 0.0, 1.0, 0.0]), "drug_class": torch.eye(3)[[0, 1, 2, 0]],
               "mechanism": torch.tensor([0, 1, 2, 1])}
    masks = {name: torch.ones(4, dtype=torch.bool) for name in targets}
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(model(batch), targets, masks)[0].backward()
        optimizer.step()


@pytest.mark.parametrize(
    "finetune,backbone,head",
    [("lora", "esm", DRSN), ("partial", "esm", {"name": "attention", "n_heads": 2, "hidden": 8}),
     ("frozen", "esm", {"name": "linear"}), ("full", "cnn", {"name": "mlp", "hidden": 8}),
     ("frozen", "cnn", {"name": "linear", "shared": True})],
)
def test_save_load_trainable_round_trip(tiny_esm_dir, tmp_path, finetune, backbone, head):
    backbone_cfg = esm(tiny_esm_dir) if backbone == "esm" else CNN
    cfg = make_cfg(backbone_cfg, finetune=finetune, head=head, layers=[-2, -1], layer_mix="weighted")
    torch.manual_seed(0)
    model = build_model(cfg, TASKS)
    _train(model)
    model.eval()
    batch = model.tokenize(SEQUENCES)
    with torch.no_grad():
        expected = model(batch)
    saved = model.save_trainable(tmp_path / "model")
    assert (saved / ("adapter" if finetune == "lora" else "heads.safetensors")).exists()
    assert (saved / "backbone.safetensors").exists() == (finetune in ("partial", "full") or backbone == "cnn")

    torch.manual_seed(123)
    fresh = build_model(cfg, TASKS).eval()
    with torch.no_grad():
        assert not torch.allclose(fresh(batch)["mechanism"], expected["mechanism"])
        fresh.load_trainable(saved)
        got = fresh(batch)
    for name in expected:
        assert torch.equal(got[name], expected[name])


def test_load_trainable_refuses_another_mode(tiny_esm_dir, tmp_path):
    build_model(make_cfg(esm(tiny_esm_dir), finetune="frozen"), TASKS).save_trainable(tmp_path)
    with pytest.raises(ValueError, match="finetune.mode"):
        build_model(make_cfg(esm(tiny_esm_dir), finetune="full"), TASKS).load_trainable(tmp_path)


@pytest.mark.parametrize("backbone,finetune", [("cnn", "full"), ("esm", "lora")])
def test_loss_decreases_on_a_learnable_toy_task(tiny_esm_dir, backbone, finetune):
    """Proteins carrying a tryptophan motif are "ARGs" and the residue after it sets their mechanism; the best
    constant predictor scores about the initial loss, so reaching a fifth of it needs the model to read sequences."""
    generator = torch.Generator().manual_seed(0)
    alphabet = "ACDEFGHIKLMNPQRSTVY"

    def protein(positive, mechanism):
        residues = [alphabet[i] for i in torch.randint(0, len(alphabet), (30,), generator=generator)]
        if positive:
            start = int(torch.randint(0, 25, (1,), generator=generator))
            residues[start:start + 4] = list("WWW" + "KDE"[mechanism])
        return "".join(residues)

    labels = [(i % 2 == 0, i % 3) for i in range(24)]
    sequences = [protein(positive, mechanism) for positive, mechanism in labels]
    tasks = [TASKS[0], TASKS[2]]
    cfg = make_cfg(esm(tiny_esm_dir) if backbone == "esm" else CNN, finetune=finetune,
                   head={"name": "mlp", "hidden": 16, "dropout": 0.0}, pool="max" if backbone == "cnn" else "mean")
    torch.manual_seed(0)
    model = build_model(cfg, tasks)
    loss_fn = build_multitask_loss(OmegaConf.create({"name": "focal", "gamma": 1.0}), tasks)
    optimizer = torch.optim.AdamW([p for g in model.param_groups().values() for p in g], lr=1e-2)
    batch = model.tokenize(sequences)
    targets = {"is_arg": torch.tensor([float(p) for p, _ in labels]), "mechanism": torch.tensor([m for _, m in labels])}
    masks = {"is_arg": torch.ones(24, dtype=torch.bool), "mechanism": targets["is_arg"].bool()}
    model.train()
    losses = []
    while len(losses) < 60 and (not losses or losses[-1] > 0.2 * losses[0]):
        optimizer.zero_grad()
        total, _ = loss_fn(model(batch), targets, masks)
        total.backward()
        optimizer.step()
        losses.append(total.item())
    assert losses[-1] < 0.2 * losses[0], f"loss went {losses[0]:.3f} -> {losses[-1]:.3f} in {len(losses)} steps"


@pytest.mark.parametrize("pool", ["mean", "cls"])
def test_embedding_cache_vectors_score_like_sequences(tiny_esm_dir, tmp_path, pool):
    """The embedding engine's pooled vectors and the model's own pooling agree, so a head trained on the
    cache predicts the same from raw sequences."""
    from biotune.embed import embed_sequences

    model = build_model(make_cfg(esm(tiny_esm_dir), pool=pool, layers=[-2, -1], layer_mix="weighted"), TASKS).eval()
    cached = embed_sequences([f"p{i}" for i in range(len(SEQUENCES))], SEQUENCES, str(tiny_esm_dir), layers=(-2, -1),
                             pool=pool, cache_path=str(tmp_path / "emb.h5"), max_length=64, long_policy="truncate")
    with torch.no_grad():
        direct = model(model.tokenize(SEQUENCES))
        from_cache = model({"embeddings": torch.from_numpy(cached)})
    for name in direct:
        assert torch.allclose(direct[name], from_cache[name], atol=1e-4)


CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _options(group):
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


@pytest.mark.parametrize(
    "representation,head",
    [(r, "linear") for r in _options("representation")] + [("mean", h) for h in _options("head") if h != "linear"],
)
def test_every_shipped_head_and_representation_config_builds_and_runs(tiny_esm_dir, representation, head):
    """The YAML files users pick with ``head=…`` / ``representation=…`` are valid for build_model
    (on the 4-layer CNN, or on ESM for ``<cls>`` pooling)."""
    rep = OmegaConf.load(CONFIGS / "representation" / f"{representation}.yaml")
    cnn = {"name": "cnn", "channels": 16, "n_layers": 4, "kernel_sizes": [3], "max_length": 40}
    cfg = OmegaConf.create({
        "backbone": esm(tiny_esm_dir) if rep.pool == "cls" else cnn,
        "finetune": OmegaConf.load(CONFIGS / "finetune" / "full.yaml"),
        "representation": rep,
        "head": OmegaConf.load(CONFIGS / "head" / f"{head}.yaml"),
    })
    model = build_model(cfg, TASKS).eval()
    logits = model(model.tokenize(SEQUENCES))
    assert logits["mechanism"].shape == (4, 3) and logits["is_arg"].shape == (4,)


@pytest.mark.parametrize("name", _options("loss"))
def test_every_shipped_loss_config_builds_for_every_task_kind(name):
    cfg = OmegaConf.load(CONFIGS / "loss" / f"{name}.yaml")
    regression = TaskSpec("score", "regression")
    for task in TASKS + [regression]:
        if cfg.name in ("mse", "l1", "huber") and task is not regression:
            continue
        counts = None if task.kind == "regression" else np.arange(1, max(task.n_outputs, 2) + 1)
        value = build_loss(cfg, task, counts)(*_loss_inputs(task))
        assert torch.isfinite(value)


def _loss_inputs(task):
    if task.kind == "multiclass":
        return torch.randn(5, task.n_outputs), torch.randint(0, task.n_outputs, (5,))
    if task.kind == "multilabel":
        return torch.randn(5, task.n_outputs), torch.randint(0, 2, (5, task.n_outputs)).float()
    return torch.randn(5), torch.randint(0, 2, (5,)).float()


@pytest.mark.parametrize("name", _options("backbone"))
def test_every_shipped_backbone_config_names_a_known_backbone(name):
    from biotune.models.backbones.esm import PRESETS
    from biotune.models.backbones.registry import BACKBONES

    cfg = OmegaConf.load(CONFIGS / "backbone" / f"{name}.yaml")
    assert cfg.name in BACKBONES
    if cfg.name == "esm":
        assert cfg.checkpoint in PRESETS

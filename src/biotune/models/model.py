"""The sequence model: one backbone (encoder), one representation, one head per task.

:func:`build_model` composes it from the config groups ``backbone``, ``finetune``,
``representation``, ``head`` and the optional per-task overrides ``heads.<task>``; with
``head.shared: true`` one head computes every task's outputs at once (one DRSN pass instead of one
per task), its output split per task. The model
returns logits per task (binary/regression ``(B,)``, multiclass/multilabel ``(B, k)``); losses and
decoding live elsewhere. :meth:`SequenceModel.save_trainable` writes only what training changed —
head weights, the LoRA adapter (peft format) or the trained backbone weights — the pretrained backbone
itself is referenced by the config (a from-scratch CNN is always saved whole).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from peft import PeftModel, set_peft_model_state_dict
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from biotune.models.adapters import apply_finetune
from biotune.models.backbones.registry import build_backbone
from biotune.models.encoders import PRECOMPUTED_KEYS, Encoder, resolve_layers
from biotune.models.heads import build_head, head_class
from biotune.models.pooling import Representation
from biotune.tasks import TaskSpec

HEADS_FILE = "heads.safetensors"
#: Key of the single head in ``SequenceModel.heads`` when ``head.shared`` is on.
SHARED_HEAD = "shared"
BACKBONE_FILE = "backbone.safetensors"
ADAPTER_DIR = "adapter"
MANIFEST_FILE = "trainable.json"


class SequenceModel(nn.Module):
    """Backbone + representation + one head per task."""

    def __init__(
        self,
        encoder: Encoder,
        representation: Representation,
        heads: dict[str, nn.Module],
        tasks: Sequence[TaskSpec],
        *,
        finetune_mode: str,
        layers: list[int],
    ):
        super().__init__()
        self.encoder = encoder
        self.representation = representation
        self.heads = nn.ModuleDict(heads)
        self.tasks = list(tasks)
        self.finetune_mode = finetune_mode
        self.layers = layers

    def tokenize(self, sequences: Sequence[str]) -> dict[str, Tensor]:
        """Padded encoder inputs for ``sequences`` (truncated to the backbone's ``max_length``)."""
        return self.encoder.tokenize(list(sequences))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Logits per task name: ``(B,)`` for binary/regression, ``(B, k)`` for multiclass/multilabel."""
        if self.finetune_mode in ("lora", "full", "partial") and any(key in batch for key in PRECOMPUTED_KEYS):
            raise ValueError(f"precomputed embeddings cannot train a backbone (finetune.mode={self.finetune_mode!r})")
        features = self.representation(self.encoder(batch, self.layers))
        if SHARED_HEAD in self.heads:
            outputs = _run_head(self.heads[SHARED_HEAD], features).split([t.n_outputs for t in self.tasks], dim=-1)
        else:
            outputs = [_run_head(self.heads[task.name], features) for task in self.tasks]
        return {
            task.name: out.squeeze(-1) if task.kind in ("binary", "regression") else out
            for task, out in zip(self.tasks, outputs)
        }

    def train(self, mode: bool = True) -> SequenceModel:
        """Train mode everywhere except a frozen backbone, which stays in eval (no dropout, fixed norms)."""
        super().train(mode)
        if self.finetune_mode == "frozen":
            self.encoder.eval()
        return self

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters: ``head`` (heads + pooling/layer-mix) and ``backbone``."""
        head = [p for module in (self.representation, self.heads) for p in module.parameters() if p.requires_grad]
        backbone = [p for p in self.encoder.parameters() if p.requires_grad]
        return {"head": head, "backbone": backbone}

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters per group and the model's total (for logs and run summaries)."""
        groups = self.param_groups()
        return {
            "trainable_backbone": sum(p.numel() for p in groups["backbone"]),
            "trainable_head": sum(p.numel() for p in groups["head"]),
            "total": sum(p.numel() for p in self.parameters()),
        }

    def backbone_layers(self) -> list[list[nn.Parameter]]:
        """Trainable backbone parameters per depth, bottom→top: embeddings first, then each layer.

        One list per depth even when empty (e.g. the embeddings under LoRA), so index i is always depth i.
        """
        return [[p for p in group if p.requires_grad] for group in self.encoder.layer_groups()]

    def save_trainable(self, directory: str | Path) -> Path:
        """Write what training changed: heads (+ pooling/mix), and the LoRA adapter or trained backbone weights."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file(_contiguous(self._head_state()), str(directory / HEADS_FILE))
        backbone = "none"
        if isinstance(getattr(self.encoder, "model", None), PeftModel):
            self.encoder.model.save_pretrained(str(directory / ADAPTER_DIR))
            backbone = "lora"
        elif self.finetune_mode != "frozen" or not self.encoder.by_reference:
            save_file(_contiguous(self._backbone_state()), str(directory / BACKBONE_FILE))
            backbone = "weights"
        manifest = {"finetune_mode": self.finetune_mode, "backbone": backbone, "tasks": [t.to_dict() for t in self.tasks]}
        (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        return directory

    def load_trainable(self, directory: str | Path) -> SequenceModel:
        """Load what :meth:`save_trainable` wrote into this model (built from the same config)."""
        directory = Path(directory)
        manifest = json.loads((directory / MANIFEST_FILE).read_text())
        if manifest["finetune_mode"] != self.finetune_mode:
            raise ValueError(f"{directory}: saved with finetune.mode={manifest['finetune_mode']!r}, model is {self.finetune_mode!r}")
        _load_exact(self, load_file(str(directory / HEADS_FILE)), directory / HEADS_FILE)
        if manifest["backbone"] == "lora":
            adapter = load_file(str(directory / ADAPTER_DIR / "adapter_model.safetensors"))
            result = set_peft_model_state_dict(self.encoder.model, adapter)
            if result.unexpected_keys:
                raise ValueError(f"{directory / ADAPTER_DIR}: adapter weights do not fit this model: {result.unexpected_keys[:5]}")
        elif manifest["backbone"] == "weights":
            _load_exact(self.encoder, load_file(str(directory / BACKBONE_FILE)), directory / BACKBONE_FILE)
        return self

    def _head_state(self) -> dict[str, Tensor]:
        return {k: v for k, v in self.state_dict().items() if k.startswith(("representation.", "heads."))}

    def _backbone_state(self) -> dict[str, Tensor]:
        """The trained backbone weights (+ buffers); everything when the backbone cannot be rebuilt by reference."""
        if not self.encoder.by_reference:
            return self.encoder.state_dict()
        trainable = {name for name, p in self.encoder.named_parameters() if p.requires_grad}
        buffers = {name for name, _ in self.encoder.named_buffers()}
        return {k: v for k, v in self.encoder.state_dict().items() if k in trainable or k in buffers}


def _run_head(head: nn.Module, features) -> Tensor:
    return head(features.residues if head.needs_residues else features.pooled, features.mask)


def _contiguous(state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.detach().contiguous().clone() for k, v in state.items()}


def _load_exact(module: nn.Module, state: dict[str, Tensor], path: Path) -> None:
    """Load a partial state dict, refusing keys the module does not have."""
    unexpected = sorted(set(state) - set(module.state_dict()))
    if unexpected:
        raise ValueError(f"{path}: weights do not fit this model (unexpected {unexpected[:5]})")
    module.load_state_dict(state, strict=False)


def _check_task_names(overrides, tasks: Sequence[TaskSpec], where: str) -> None:
    """Per-task overrides must name tasks that exist (a typo would otherwise be silently ignored)."""
    unknown = sorted(set(overrides or {}) - {t.name for t in tasks})
    if unknown:
        raise ValueError(f"{where} overrides name unknown tasks {unknown}; tasks are {[t.name for t in tasks]}")


def head_config(cfg: DictConfig, task: TaskSpec) -> DictConfig:
    """``cfg.head`` merged with the per-task override ``cfg.heads.<task>`` when there is one."""
    override = OmegaConf.select(cfg, f"heads.{task.name}", default=None)
    if override is None:
        return cfg.head
    if "name" in override and override.name != cfg.head.name:
        return override
    return OmegaConf.merge(cfg.head, override)


def build_model(cfg: DictConfig, tasks: Sequence[TaskSpec]) -> SequenceModel:
    """Compose backbone, fine-tune mode, representation and one head per task from ``cfg``."""
    if not tasks:
        raise ValueError("build_model needs at least one task")
    _check_task_names(OmegaConf.select(cfg, "heads", default=None), tasks, "heads")
    encoder = build_backbone(cfg.backbone)
    finetune = OmegaConf.select(cfg, "finetune", default=None) or OmegaConf.create({"mode": "frozen"})
    apply_finetune(encoder, finetune)
    rep = OmegaConf.select(cfg, "representation", default=None) or OmegaConf.create({})
    layers = resolve_layers(list(rep.get("layers", [-1])), encoder.n_states)
    head_cfgs = {task.name: head_config(cfg, task) for task in tasks}
    need_residues = bool(rep.get("per_residue", False)) or any(
        head_class(c.name).needs_residues for c in head_cfgs.values()
    )
    need_pooled = any(not head_class(c.name).needs_residues for c in head_cfgs.values())
    representation = Representation(
        hidden_size=encoder.hidden_size,
        n_layers=len(layers),
        pool=rep.get("pool", "mean"),
        layer_mix=rep.get("layer_mix", "none"),
        attention_heads=int(rep.get("attention_heads", 1)),
        need_pooled=need_pooled,
        need_residues=need_residues,
    )
    def in_dim(head_cfg: DictConfig) -> int:
        return representation.residue_dim if head_class(head_cfg.name).needs_residues else representation.pooled_dim

    if cfg.head.get("shared", False):
        if OmegaConf.select(cfg, "heads", default=None):
            raise ValueError("head.shared=true runs one head for all tasks: per-task 'heads' overrides do not apply")
        heads = {SHARED_HEAD: build_head(cfg.head, in_dim(cfg.head), sum(t.n_outputs for t in tasks))}
    else:
        heads = {task.name: build_head(head_cfgs[task.name], in_dim(head_cfgs[task.name]), task.n_outputs) for task in tasks}
    return SequenceModel(
        encoder, representation, heads, tasks, finetune_mode=finetune.get("mode", "frozen"), layers=layers
    )

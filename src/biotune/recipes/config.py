"""Recipe configs: a YAML file of ``configs/`` merged with ``key=value`` overrides, shared by every recipe."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from biotune.errors import InputError
from biotune.overrides import merge_overrides


def load_recipe_config(path: Path, overrides: Sequence[str] = ()) -> DictConfig:
    """The YAML at ``path`` merged with ``overrides`` (OmegaConf dot-list syntax), resolved; a missing file or a
    malformed config or a bad override (:func:`~biotune.overrides.merge_overrides`) is a one-line :class:`InputError` naming the file."""
    if not path.is_file():
        raise InputError("config not found (pass --config)", path=path)
    try:
        config = OmegaConf.load(path)
    except (OmegaConfBaseException, yaml.YAMLError, ValueError) as exc:
        raise InputError(f"bad config: {' '.join(str(exc).split())}", path=path) from None
    return merge_overrides(config, overrides, path)

"""Compose a stage's own primary config from inside another command.

fit runs the audio2mouth and renderer trainers with their real configs, so a
bundle is trained exactly as ``audio2mouth-train``/``renderer-train`` would,
plus the user's overrides for that stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from landmarks.errors import LipsyncError

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def compose_stage(config_name: str, overrides: Sequence[str]) -> DictConfig:
    """The stage config ``config_name`` with ``overrides``, inside or outside a Hydra app."""
    try:
        if GlobalHydra.instance().is_initialized():
            return compose(config_name=config_name, overrides=list(overrides))
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name=config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        first = str(err).strip().splitlines()[0]
        raise LipsyncError(f"bad override for {config_name}: {first}") from err

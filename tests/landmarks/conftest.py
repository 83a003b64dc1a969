"""Compose the real prepare config, shrunk for tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def compose_prepare(**overrides) -> DictConfig:
    """The real ``prepare`` config with ``key=value`` overrides, as the command would see it."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="prepare", overrides=[f"{k}={v}" for k, v in overrides.items()])


@pytest.fixture(name="compose_prepare")
def compose_prepare_fixture():
    return compose_prepare


@pytest.fixture(scope="session")
def sample_cache(sample_dir, tmp_path_factory) -> tuple[Path, Path]:
    """The synthetic anchor prepared once per session; returns (cache dir, truth npz path)."""
    from landmarks.prepare import prepare

    cfg = compose_prepare(speaker="sample", video=sample_dir / "sample_anchor.mp4",
                          **{"paths.cache_dir": tmp_path_factory.mktemp("cache")})
    return prepare(cfg, progress=False), sample_dir / "sample_anchor_truth.npz"


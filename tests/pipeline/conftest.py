"""A tiny speaker bundle fitted once per session on the synthetic sample."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"

# Just enough training to exercise every stage: this is a plumbing test, not a quality test.
TINY_A2M = ["trainer.max_epochs=2"]
# The full-width generator at pix2pix's rates (render_setup=cpu_128): after only 4 batches its mouth already
# follows the drawn landmarks (opening r 0.75 in test_evaluate_driven_by_the_clips_own_landmarks), where the
# half-width default at 4e-4 (0.44) has not started to; over minutes the two end alike (docs/renderer.md).
TINY_RENDERER = ["render_setup=cpu_128", "trainer.max_epochs=1", "+trainer.limit_train_batches=4",
                 "+trainer.limit_val_batches=2"]


def compose_app(name: str, **overrides) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=name, overrides=[f"{k}={v}" for k, v in overrides.items()])


@pytest.fixture(name="compose_app")
def compose_app_fixture():
    return compose_app


def fit_tiny(video: Path, out: Path, cache_dir: Path, speaker: str) -> Path:
    from pipeline.fit import fit

    cfg = compose_app("fit", speaker=speaker, video=video, out=out, **{"paths.cache_dir": cache_dir})
    cfg.audio2mouth = TINY_A2M
    cfg.renderer = TINY_RENDERER
    return fit(cfg)


@pytest.fixture(name="fit_tiny")
def fit_tiny_fixture():
    return fit_tiny


@pytest.fixture(scope="session")
def sample_bundle(sample_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    return fit_tiny(sample_dir / "sample_anchor.mp4", root / "sample", root / "cache", "sample")

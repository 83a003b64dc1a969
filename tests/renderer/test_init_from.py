"""A renderer that starts from another run's generator (``init_from=``, renderer/train.py)."""

from __future__ import annotations

import pytest
import torch

from landmarks.errors import LipsyncError
from renderer.bundle import load_generator
from renderer.train import train
from tests.renderer.test_train import CPU, TINY

FAST = ["+trainer.fast_dev_run=true", "render_data.batch_size=2", "render_data.gap_s=0", "render_data.bank_size=16"]


def _train(compose_cfg, cache, out, extra=()):
    cfg = compose_cfg([f"render_data.cache={cache}", f"paths.output_dir={out}", *FAST, *TINY, *CPU, *extra])
    train(cfg)
    return out


def test_a_renderer_starts_from_another_anchors_generator(fake_cache, compose_cfg, tmp_path):
    other = _train(compose_cfg, fake_cache(size=128, n_frames=60), tmp_path / "other", ["seed=5"])
    theirs, _ = load_generator(other)
    cache = fake_cache(size=128, n_frames=60)
    # at learning rate 0 the generator this run exports has the other run's weights (BatchNorm's running
    # statistics, buffers, still follow this clip's batches)
    frozen = ["render_model.module.optimizer_g.lr=0.0"]
    warm = _train(compose_cfg, cache, tmp_path / "warm", [f"init_from={other}", "seed=1", *frozen])
    mine, config = load_generator(warm)
    assert config["init_from"] == str(other)
    assert all(torch.equal(dict(theirs.named_parameters())[k], v) for k, v in mine.named_parameters())
    # without init_from the same run exports other weights: the check above is not trivially true
    cold, _ = load_generator(_train(compose_cfg, cache, tmp_path / "cold", ["seed=1", *frozen]))
    assert any(not torch.equal(dict(theirs.named_parameters())[k], v) for k, v in cold.named_parameters())


def test_a_generator_built_otherwise_is_refused(fake_cache, compose_cfg, tmp_path):
    cache = fake_cache(size=128, n_frames=60)
    other = _train(compose_cfg, cache, tmp_path / "other")
    with pytest.raises(LipsyncError, match="built otherwise"):
        _train(compose_cfg, cache, tmp_path / "wider", [f"init_from={other}", "render_model.generator.ngf=8"])
    with pytest.raises(LipsyncError, match="renderer run directory not found"):
        _train(compose_cfg, cache, tmp_path / "none", [f"init_from={tmp_path / 'nothing'}"])

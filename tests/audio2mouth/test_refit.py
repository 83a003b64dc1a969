"""refit=true: fresh networks on train + val for the first pass's epochs; test stays held out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audio2mouth.bundle import load_bundle
from audio2mouth.datamodule import Audio2MouthDataModule
from audio2mouth.features import AudioFeatures
from audio2mouth.train import train

TINY_TCN = ["model=tcn", "model.net.channels=8", "model.net.dilations=[1,2]", "data.batch_size=8",
            "data.window_s=1.0", "ensemble=1", "logger=csv"]


def _config(compose_train, cache: Path, out: Path, extra: list[str]):
    return compose_train([f"speaker={cache.name.split('-')[0]}", f"paths.cache_dir={cache.parent}",
                          *TINY_TCN, *extra], out)


def test_train_through_val_trains_on_val_never_on_test(fake_cache: Path):
    first = Audio2MouthDataModule(str(fake_cache), AudioFeatures(), window_s=1.0, stride_s=0.05)
    both = Audio2MouthDataModule(str(fake_cache), AudioFeatures(), window_s=1.0, stride_s=0.05,
                                 train_through_val=True)
    first.setup("fit")
    both.setup("fit")
    t_val, t_test = first.block_times["val"][0], first.block_times["test"][0]
    assert both.block_times["train"] == (0.0, t_test) and both.block_times["test"] == first.block_times["test"]
    end = lambda dm: (max(dm.train_set.starts) + dm.train_set.window) / 100.0  # noqa: E731
    assert end(first) <= t_val + 1e-9 < end(both) <= t_test + 1e-9
    assert len(both.train_set) > len(first.train_set)
    # statistics come from what is trained on: the val block changes them
    assert not np.allclose(both.speaker.target_norm.mean, first.speaker.target_norm.mean)
    np.testing.assert_array_equal(both.blocks["test"][0]["coeffs"], first.blocks["test"][0]["coeffs"])


def test_refit_trains_the_kept_epochs_and_reports_both_passes(fake_cache: Path, tmp_path: Path, compose_train):
    cfg = _config(compose_train, fake_cache, tmp_path, ["trainer.max_epochs=4", "refit=true", "calibrate=opening"])
    results = train(cfg)
    refit = results["refit"]
    assert 1 <= refit["epochs"] <= 4
    assert results["epochs"] == refit["epochs"]  # the refit trainer ran exactly the kept epochs
    first = refit["first_pass_test"]
    assert set(first) >= {"mse", "mouth_corr", "mse_over_mean_predictor"}
    assert first["mse"] != results["test"]["mse"]  # other networks, trained on more data
    assert np.isfinite(results["mse_over_mean_predictor"])
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["refit"]["epochs"] == refit["epochs"]
    run = load_bundle(tmp_path)  # the refit networks are the saved model, with the first pass's gain
    assert run.speaker.opening_gain == pytest.approx(results["opening_gain"])


def test_refit_is_skipped_when_the_time_limit_cannot_hold_it(fake_cache: Path, tmp_path: Path, compose_train):
    cfg = _config(compose_train, fake_cache, tmp_path,
                  ["trainer.max_epochs=100000", "callbacks.early_stopping=null", "trainer.max_time=00:00:00:02",
                   "refit=true"])
    results = train(cfg)
    assert results["stop"]["stopped"] == "budget"
    assert results["refit"]["skipped"].startswith("refit skipped:")
    assert "first_pass_test" not in results["refit"]

"""Every model config runs end to end (fast_dev_run), writes a loadable run, and predicts."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from audio2mouth.bundle import load_bundle
from audio2mouth.datamodule import Audio2MouthDataModule
from audio2mouth.features import AudioFeatures
from audio2mouth.inference import lower_face_landmarks, predict
from audio2mouth.train import train
from landmarks.errors import LipsyncError


@pytest.mark.parametrize("model", ["adv_tcn", "tcn", "lstm", "bilstm"])
def test_fast_dev_run_writes_a_loadable_run(model: str, fake_cache: Path, tmp_path: Path, shrunk):
    results = train(shrunk(model, fake_cache, tmp_path))
    assert results["model"] == model
    assert set(results["test"]) >= {"mse", "mae", "int_mse", "lmk_rmse_px", "mouth_corr"}
    assert all(np.isfinite(v) for v in results["test"].values())
    assert results["train_batch_s"] > 0 and results["infer_model_s"] > 0
    assert json.loads((tmp_path / "results.json").read_text())["seed"] == results["seed"]
    # the weights file holds tensors only: it loads with weights_only=True
    assert zipfile.is_zipfile(tmp_path / "model" / "weights.pt")
    torch.load(tmp_path / "model" / "weights.pt", weights_only=True)
    run = load_bundle(tmp_path)
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    for fps in (25.0, 29.97, 60.0):
        coeffs = predict(run, audio, fps)
        assert coeffs.shape == (int(np.ceil(fps - 1e-6)), run.speaker.pca.n_components)
    shapes = lower_face_landmarks(run, coeffs)
    assert shapes.shape == (len(coeffs), len(run.speaker.lower_face_indices), 2)


def test_predict_bad_inputs_give_clear_errors_or_work(fake_cache: Path, tmp_path: Path, shrunk):
    train(shrunk("tcn", fake_cache, tmp_path))
    run = load_bundle(tmp_path / "model")
    k = run.speaker.pca.n_components
    rng = np.random.default_rng(0)
    short = rng.standard_normal(400).astype(np.float32) * 0.1  # 25 ms < receptive field
    assert predict(run, short, 25.0).shape == (1, k)
    stereo = rng.standard_normal((8000, 2)).astype(np.float32)
    assert predict(run, stereo, 25.0).shape == (13, k)
    clipped = np.clip(rng.standard_normal(8000) * 10, -1, 1).astype(np.float32)
    assert np.isfinite(predict(run, clipped, 25.0)).all()
    silent = predict(run, np.zeros(32000, np.float32), 25.0)
    assert np.allclose(silent, run.speaker.rest_coeffs, atol=1e-5)  # the gate closes the mouth
    for bad in (np.zeros(10, np.float32), np.array([np.nan] * 2000, np.float32)):
        with pytest.raises(LipsyncError):
            predict(run, bad, 25.0)
    with pytest.raises(LipsyncError):
        predict(run, short, 0.0)
    with pytest.raises(LipsyncError):
        load_bundle(tmp_path / "nothing-here")


def test_bundle_refuses_foreign_targets(fake_cache: Path, tmp_path: Path, shrunk):
    train(shrunk("lstm", fake_cache, tmp_path))
    cfg = tmp_path / "model" / "config.yaml"
    cfg.write_text(cfg.read_text().replace("audio2mouth.components.DelayedLSTM", "os.system"))
    with pytest.raises(LipsyncError, match="refusing"):
        load_bundle(tmp_path)


def test_splits_are_contiguous_blocks_without_leaks(fake_cache: Path):
    dm = Audio2MouthDataModule(str(fake_cache), AudioFeatures(), window_s=1.0, stride_s=0.05)
    dm.setup("fit")
    t_val, t_test = dm.block_times["val"][0], dm.block_times["test"][0]
    assert t_test == pytest.approx(0.8 * 40.0) and t_val == pytest.approx(0.7 * 40.0)
    last_window_end = (max(dm.train_set.starts) + dm.train_set.window) / 100.0
    assert last_window_end <= t_val + 1e-9  # no training window reaches into val or test
    for name, (lo, hi) in [("val", (t_val, t_test)), ("test", (t_test, 40.0))]:
        item = dm.blocks[name][0]
        assert item["step_times"].min() >= lo and item["step_times"].max() < hi
        assert item["frame_times"].min() >= lo and item["frame_times"].max() < hi
    batch = next(iter(dm.train_dataloader()))
    assert batch["features"].shape == (32, 100, 28) and batch["targets"].shape == (32, 100, 4)


def test_missing_cache_is_a_clear_error(tmp_path: Path):
    dm = Audio2MouthDataModule(str(tmp_path / "nobody"), AudioFeatures())
    with pytest.raises(LipsyncError, match="no prepared speaker cache"):
        dm.setup("fit")

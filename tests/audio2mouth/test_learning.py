"""The adversarial TCN learns a known audio -> mouth mapping, and silence closes the mouth.

On the fake cache the mouth opening is a smoothed function of the audio's RMS
energy, which MFCC log-energy carries; a short CPU training must beat the
predict-the-mean baseline (the variance of the targets) by a wide margin.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audio2mouth.bundle import load_bundle
from audio2mouth.inference import lower_face_landmarks, predict
from audio2mouth.metrics import mouth_opening_from_shapes
from audio2mouth.train import train


@pytest.mark.slow
def test_adversarial_tcn_learns_the_synthetic_mapping(
    fake_cache: Path, tmp_path: Path, compose_train
):
    cfg = compose_train(
        [
            "model=adv_tcn",
            "ensemble=1",  # one network: this test is about what the adversarial TCN itself learns
            # The fake mouth is a function of loudness only, which the MFCC block carries; visemes
            # (bursts labelled AA) add nothing here. The least-squares gain is the one that minimizes
            # the MSE this test bounds; the default sqrt_r gain trades MSE for motion range.
            "features@data.features=mfcc",
            "calibrate=shrink",
            "speaker=fake",
            f"paths.cache_dir={fake_cache.parent}",
            "model.net.channels=16",
            "model.discriminator.channels=16",
            "trainer.max_epochs=8",
            "data.stride_s=0.2",
            "logger=csv",
            "threads=1",
        ],
        tmp_path,
    )
    results = train(cfg)
    # well below the variance of the targets, i.e. far better than predicting the mean
    assert results["test"]["mse"] < 0.25 * results["target_variance"], results
    assert results["test"]["mouth_corr"] > 0.8, results

    run = load_bundle(tmp_path)
    with np.load(fake_cache / "pca.npz") as data:
        train_opening = mouth_opening_from_shapes(data["shapes"], data["lower_face"])
    # the network itself (silence gate off) must close the mouth and keep it still
    silent = predict(run, np.zeros(3 * 16000, np.float32), 25.0, gate=None)
    shapes = lower_face_landmarks(run, silent)
    opening = mouth_opening_from_shapes(shapes, run.speaker.lower_face_indices)
    # closed: within 5 % of the training range from fully shut (input noise blurs the edge)
    assert opening[10:-10].max() < 0.05 * train_opening.max(), opening.max()
    assert opening[10:-10].std() < 0.01 * (train_opening.std() + 1e-9) + 1e-4

"""The lip LMD against a still mouth: audio2mouth's view of the end-to-end LMD target."""

from __future__ import annotations

import numpy as np
import pytest

from audio2mouth.metrics import shape_metrics
from landmarks.indices import LOWER_FACE
from landmarks.pca import LowerFacePCA
from pipeline import metrics as end_to_end


@pytest.fixture
def speech():
    """(T, k) true coefficients of random lower faces, their PCA, and frame->canonical transforms."""
    rng = np.random.default_rng(0)
    shapes = rng.normal(size=(1, len(LOWER_FACE), 2)) + 0.05 * rng.normal(size=(200, len(LOWER_FACE), 2))
    pca = LowerFacePCA.fit(shapes, n_components=6)
    # canonical = frame px / 40 (a face 40x smaller than the frame's), moved by (3, -2)
    transforms = np.tile(np.array([[1 / 40, 0, 3], [0, 1 / 40, -2]]), (len(shapes), 1, 1))
    return pca.encode(shapes), pca, transforms


def _ratio(pred, true, pca, transforms):
    mask = np.ones(len(true), bool)
    return shape_metrics(pred, true, mask, pca, LOWER_FACE, transforms)


def test_perfect_prediction_has_no_lip_distance(speech):
    true, pca, transforms = speech
    out = _ratio(true, true, pca, transforms)
    assert out["lip_lmd_px"] == pytest.approx(0.0, abs=1e-4)
    assert out["lip_lmd_over_still"] == pytest.approx(0.0, abs=1e-4)


def test_a_still_mean_mouth_scores_one_and_half_the_motion_scores_half(speech):
    true, pca, transforms = speech
    still = np.repeat(true.mean(0, keepdims=True), len(true), 0)
    assert _ratio(still, true, pca, transforms)["lip_lmd_over_still"] == pytest.approx(1.0, rel=1e-4)
    halfway = still + 0.5 * (true - still)  # every frame's error is half the still mouth's
    assert _ratio(halfway, true, pca, transforms)["lip_lmd_over_still"] == pytest.approx(0.5, rel=1e-4)


def test_lip_distance_is_the_end_to_end_lmd_in_frame_px(speech):
    """Same definition as lipsync-evaluate's LMD, on the lips mapped back into the frame."""
    true, pca, transforms = speech
    pred = true + np.random.default_rng(1).normal(scale=0.02, size=true.shape).astype(np.float32)
    out = _ratio(pred, true, pca, transforms)
    frame = np.full((len(true), 68, 2), np.nan)

    def in_frame(coeffs):
        points = frame.copy()
        points[:, LOWER_FACE] = (pca.decode(coeffs) - [3, -2]) * 40
        return points

    expected = end_to_end.lmd(in_frame(pred), in_frame(true)).mean()
    assert out["lip_lmd_px"] == pytest.approx(expected, rel=1e-3)
    assert out["lip_lmd_over_still"] == pytest.approx(
        expected / end_to_end.static_mouth_lmd(in_frame(true)).mean(), rel=1e-3)


def test_the_train_mean_bar_is_a_still_mouth_at_the_train_blocks_mean(speech):
    """``lip_lmd_over_train_mean``: 1 for a mouth held at the train mean, 0 for a perfect prediction; the
    held-out still mouth scores that mouth above 1 when the held-out block rests elsewhere."""
    true, pca, transforms = speech
    mask = np.ones(len(true), bool)
    train_mean = true.mean(0) + 0.5 * true.std(0)  # the train block rested elsewhere
    at_train_mean = np.repeat(train_mean[None], len(true), 0)
    out = shape_metrics(at_train_mean, true, mask, pca, LOWER_FACE, transforms, train_mean=train_mean)
    assert out["lip_lmd_over_train_mean"] == pytest.approx(1.0, rel=1e-4)
    assert out["lip_lmd_over_still"] > 1.02  # with no pose part, the held-out block's own mean is the stricter bar
    perfect = shape_metrics(true, true, mask, pca, LOWER_FACE, transforms, train_mean=train_mean)
    assert perfect["lip_lmd_over_train_mean"] == pytest.approx(0.0, abs=1e-4)
    assert "lip_lmd_over_train_mean" not in _ratio(true, true, pca, transforms)  # only when given

"""The rendered box's finest band taken from the warped bank crop."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from landmarks.errors import LipsyncError
from renderer.detail_transfer import transfer_detail
from renderer.mouth_metrics import sharpness

SIZE = 64


def _smooth(seed: int) -> np.ndarray:
    """(SIZE, SIZE, 3) uint8 image with no fine detail: what an L1-trained network paints."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(60, 190, (SIZE // 16, SIZE // 16, 3)).astype(np.float32)
    return np.rint(cv2.resize(coarse, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)).astype(np.uint8)


def _grain(seed: int, amplitude: float = 12.0) -> np.ndarray:
    """(SIZE, SIZE, 3) float32 pixel-scale texture: skin grain, stubble, teeth edges."""
    return np.random.default_rng(seed).normal(0, amplitude, (SIZE, SIZE, 3)).astype(np.float32)


def _blur(image: np.ndarray, sigma: float = 3.0) -> np.ndarray:
    return cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma)


def test_the_fine_band_comes_from_the_warped_crop_and_the_rest_stays_the_networks():
    rendered = _smooth(0)
    # the bank frame: another lighting and colour, and the texture the network could not paint
    warped = np.clip(_smooth(1) + _grain(2), 0, 255).astype(np.uint8)
    out = transfer_detail(rendered[None], warped[None], gain=1.0)[0]
    # coarse content (shape, colour, lighting) is the network's: a 3 px blur sees no change
    assert np.abs(_blur(out) - _blur(rendered)).mean() < 2.0
    # the fine detail is the bank crop's
    fine = out.astype(np.float32) - _blur(out, 1.0)
    fine_warped = warped.astype(np.float32) - _blur(warped, 1.0)
    assert np.corrcoef(fine.ravel(), fine_warped.ravel())[0, 1] > 0.9
    assert sharpness(out) > 0.8 * sharpness(warped) and sharpness(out) > 20 * sharpness(rendered)
    # a larger gain amplifies the band
    assert sharpness(transfer_detail(rendered[None], warped[None], gain=1.5)[0]) > 1.5 * sharpness(out)


def test_a_bank_crop_without_fine_detail_changes_nothing():
    """Another frame's lighting alone (a smooth difference) never leaks into the render."""
    rendered = np.clip(_smooth(0) + _grain(3, 4.0), 0, 255).astype(np.uint8)
    brighter = np.clip(rendered.astype(np.int16) + 30, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(transfer_detail(rendered[None], brighter[None], gain=1.5)[0], rendered)
    # and gain 0 is the network's output as it is
    other = np.clip(_smooth(1) + _grain(2), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(transfer_detail(rendered[None], other[None], gain=0.0)[0], rendered)


def test_mismatched_batches_are_refused():
    image = np.zeros((1, SIZE, SIZE, 3), np.uint8)
    with pytest.raises(LipsyncError, match="one shape"):
        transfer_detail(image, image[:, :32], gain=1.0)
    with pytest.raises(LipsyncError, match="uint8"):
        transfer_detail(image, image.astype(np.float32), gain=1.0)

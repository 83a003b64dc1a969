"""End-to-end evaluation metrics (definitions live here, next to their code).

All take per-frame arrays of one clip; landmarks are (T, 68, 2) full-frame pixels.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

from landmarks import indices as ix
from landmarks.mouth_distance import centred_distance, still_distance
from landmarks.sync import av_offset, frame_energy_db, relative_opening  # noqa: F401  (re-exported)

MOUTH = ix.LIPS  # points 48-67


def lmd(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Landmark distance per frame (T,) of (T, 68, 2) landmarks: mean distance of mouth points 48-67,
    each set mean-centred (head position removed; units those of the inputs, pixels)."""
    return centred_distance(pred[:, MOUTH], true[:, MOUTH])


def static_mouth_lmd(true: np.ndarray) -> np.ndarray:
    """LMD per frame (T,) of a still mouth: the truth's own mean-centred mouth averaged over the clip.

    The bar a moving mouth must clear: LMD rewards an average mouth, so a model is only
    useful if its LMD is well below this.
    """
    return still_distance(true[:, MOUTH])


def psnr(pred: np.ndarray, true: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) of two uint8 images."""
    mse = np.mean((pred.astype(np.float64) - true.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def ssim(pred: np.ndarray, true: np.ndarray) -> float:
    """Structural similarity of two (H, W, 3) uint8 images (7x7 windows, per channel, averaged)."""
    return float(structural_similarity(pred, true, channel_axis=2, data_range=255))


def av_offset_ms(opening: np.ndarray, energy_db: np.ndarray, fps: float, max_lag_s: float = 0.5) -> float:
    """Audio-video offset in ms (positive: video late); see :func:`landmarks.sync.av_offset`."""
    return av_offset(opening, energy_db, fps, max_lag_s)[0]


def jitter(opening: np.ndarray) -> float:
    """Mouth jitter: mean absolute second difference of the opening over time (per frame^2)."""
    return float(np.abs(np.diff(opening, n=2)).mean()) if len(opening) > 2 else 0.0


def closed_when_silent(opening: np.ndarray, energy_db: np.ndarray, silence_db: float = -45.0,
                       closed_below: float = 0.08) -> float | None:
    """Fraction of silent frames (level < ``silence_db`` dBFS) whose relative opening < ``closed_below``.

    None when the clip has no silent frame.
    """
    silent = energy_db < silence_db
    if not silent.any():
        return None
    return float((opening[silent] < closed_below).mean())

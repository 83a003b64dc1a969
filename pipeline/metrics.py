"""End-to-end evaluation metrics (definitions live here, next to their code).

All take per-frame arrays of one clip; landmarks are (T, 68, 2) full-frame pixels.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

from landmarks import indices as ix
from landmarks.media import AUDIO_RATE
from landmarks.timebase import frame_timestamps

MOUTH = ix.LIPS  # points 48-67


def lmd(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Landmark distance per frame (T,): mean distance of mouth points 48-67, each set mean-centred.

    Centring removes head position, so LMD measures mouth shape only; units are
    those of the inputs (pixels).
    """
    p = pred[:, MOUTH] - pred[:, MOUTH].mean(1, keepdims=True)
    t = true[:, MOUTH] - true[:, MOUTH].mean(1, keepdims=True)
    return np.linalg.norm(p - t, axis=-1).mean(1)


def psnr(pred: np.ndarray, true: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) of two uint8 images."""
    mse = np.mean((pred.astype(np.float64) - true.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def ssim(pred: np.ndarray, true: np.ndarray) -> float:
    """Structural similarity of two (H, W, 3) uint8 images (7x7 windows, per channel, averaged)."""
    return float(structural_similarity(pred, true, channel_axis=2, data_range=255))


def frame_energy_db(audio: np.ndarray, fps: float, n_frames: int, window_s: float = 0.04) -> np.ndarray:
    """(T,) RMS level in dBFS of the ``window_s`` of audio centred on each frame's timestamp."""
    half = int(window_s * AUDIO_RATE / 2)
    power = np.concatenate([[0.0], np.cumsum(audio.astype(np.float64) ** 2)])
    centre = np.rint(frame_timestamps(n_frames, fps) * AUDIO_RATE).astype(int)
    lo, hi = np.clip(centre - half, 0, len(audio)), np.clip(centre + half, 0, len(audio))
    mean_power = (power[hi] - power[lo]) / np.maximum(hi - lo, 1)
    return 10 * np.log10(mean_power + 1e-12)


def relative_opening(landmarks: np.ndarray) -> np.ndarray:
    """(T,) inner-lip gap (62-66) divided by mouth width (48-54): scale-free opening."""
    width = np.linalg.norm(landmarks[:, 54] - landmarks[:, 48], axis=-1)
    return ix.mouth_opening(landmarks) / np.maximum(width, 1e-6)


def av_offset_ms(opening: np.ndarray, energy_db: np.ndarray, fps: float, max_lag_s: float = 0.5) -> float:
    """Audio-video offset (ms) maximizing the correlation of mouth opening with audio energy.

    Positive: the mouth moves after the sound (video lags audio). Both series are
    standardized; lags up to ``max_lag_s`` are searched.
    """
    a = (opening - opening.mean()) / (opening.std() + 1e-9)
    b = (energy_db - energy_db.mean()) / (energy_db.std() + 1e-9)
    max_lag = min(int(round(max_lag_s * fps)), len(a) // 2)
    lags = np.arange(-max_lag, max_lag + 1)
    scores = [np.mean(a[max(0, k):len(a) + min(0, k)] * b[max(0, -k):len(b) - max(0, k)]) for k in lags]
    return float(lags[int(np.argmax(scores))] / fps * 1000)


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

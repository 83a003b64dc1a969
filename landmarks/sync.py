"""Audio-video synchrony from footage alone: mouth opening against audio energy.

Used by the prepare report (is this footage in sync?) and by the end-to-end
evaluation (is our output in sync?). Landmarks are (T, 68, 2) pixels.
"""

from __future__ import annotations

import numpy as np

from landmarks import indices as ix
from landmarks.media import AUDIO_RATE
from landmarks.timebase import frame_timestamps


def frame_rms(audio: np.ndarray, fps: float, n_frames: int, window_s: float = 0.04,
              rate: int = AUDIO_RATE) -> np.ndarray:
    """(T,) RMS of the ``window_s`` of audio centred on each frame's timestamp (linear, full scale 1)."""
    half = int(window_s * rate / 2)
    power = np.concatenate([[0.0], np.cumsum(audio.astype(np.float64) ** 2)])
    centre = np.clip(np.rint(frame_timestamps(n_frames, fps) * rate).astype(int), 0, len(audio))
    lo, hi = np.clip(centre - half, 0, len(audio)), np.clip(centre + half, 0, len(audio))
    return np.sqrt((power[hi] - power[lo]) / np.maximum(hi - lo, 1))


def frame_energy_db(audio: np.ndarray, fps: float, n_frames: int, window_s: float = 0.04) -> np.ndarray:
    """(T,) RMS level in dBFS of the ``window_s`` of 16 kHz audio centred on each frame's timestamp."""
    return 10 * np.log10(frame_rms(audio, fps, n_frames, window_s) ** 2 + 1e-12)


def relative_opening(landmarks: np.ndarray) -> np.ndarray:
    """(T,) inner-lip gap (62-66) divided by mouth width (48-54): a scale-free opening."""
    width = np.linalg.norm(landmarks[:, 54] - landmarks[:, 48], axis=-1)
    return ix.mouth_opening(landmarks) / np.maximum(width, 1e-6)


def av_offset(opening: np.ndarray, energy_db: np.ndarray, fps: float, max_lag_s: float = 0.5) -> tuple[float, float]:
    """(offset in ms, peak correlation) of mouth opening against audio energy.

    The offset is the lag that maximizes the correlation of the standardized
    series, searched within +-``max_lag_s``. Positive: the mouth moves after the
    sound (video late). Natural speech peaks near 0 to -100 ms (lips lead sound
    slightly); a peak correlation under ~0.1 means the estimate is unreliable.
    """
    a = (opening - opening.mean()) / (opening.std() + 1e-9)
    b = (energy_db - energy_db.mean()) / (energy_db.std() + 1e-9)
    max_lag = min(int(round(max_lag_s * fps)), len(a) // 2)
    lags = np.arange(-max_lag, max_lag + 1)
    scores = np.array([np.mean(a[max(0, k) : len(a) + min(0, k)] * b[max(0, -k) : len(b) - max(0, k)])
                       for k in lags])
    best = int(np.argmax(scores))
    return float(lags[best] / fps * 1000), float(scores[best])

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


def phone_offset(phones, opening: np.ndarray, frame_times: np.ndarray, max_lag_s: float = 0.5,
                 step_s: float = 0.01) -> tuple[float, float]:
    """(offset in ms, confidence) of mouth opening against the openness of the phones being spoken.

    ``phones`` is a ``landmarks.phones.Phones``; ``opening`` (T,) the relative mouth opening at
    ``frame_times`` (T,) seconds. For each lag L (10 ms steps within +-``max_lag_s``) the opening at t
    is correlated with the phone openness at t - L (``landmarks.visemes.OPENNESS``: 0 on P/B/M and
    silence, high on open vowels). The offset is the best L, positive when the mouth moves after
    the sound (video late), as in :func:`av_offset`. Confidence is the peak correlation; lips
    naturally lead the sound by 0-100 ms, and a peak under ~0.15 means the estimate is unreliable.
    """
    from landmarks.visemes import openness

    a = (opening - opening.mean()) / (opening.std() + 1e-9)
    lags = np.arange(-max_lag_s, max_lag_s + step_s / 2, step_s)
    scores = []
    for lag in lags:
        b = openness(phones, frame_times - lag).astype(np.float64)
        scores.append(float(np.mean(a * (b - b.mean()) / (b.std() + 1e-9))))
    best = int(np.argmax(scores))
    return float(round(lags[best] * 1000)), float(scores[best])


def shift_audio(audio: np.ndarray, offset_ms: float, rate: int = AUDIO_RATE) -> np.ndarray:
    """Delay (positive ``offset_ms``) or advance (negative) (N,) audio, keeping its length.

    With video late by d ms (the mouth moves d ms after its sound), delaying the audio by d puts
    each sound under the frame whose mouth makes it. Exposed edges are filled with silence.
    """
    n = int(round(offset_ms / 1000 * rate))
    if n == 0:
        return audio
    out = np.zeros_like(audio)
    if n > 0:
        out[n:] = audio[: len(audio) - n]
    else:
        out[: len(audio) + n] = audio[-n:]
    return out

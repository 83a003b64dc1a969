"""A deterministic speech-like signal and the mouth opening it implies.

Phrases of syllables separated by pauses: each syllable is a harmonic source
(f0 around 120 Hz with drift) shaped by one of five vowel formant pairs, with a
short noise burst at its onset like a consonant. The mouth opening is defined as
a known function of this audio: the smoothed RMS envelope at each video frame,
normalized to [0, 1]. That makes the synthetic anchor a learning test with an
answer: a model that hears energy must open the mouth, and silence must close it.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from landmarks.sync import frame_rms

VOWELS = [(730, 1090), (270, 2290), (530, 1840), (570, 840), (300, 870)]  # (F1, F2) Hz


def speech_like(duration_s: float, rate: int = 16_000, seed: int = 0) -> np.ndarray:
    """(N,) float32 mono in [-1, 1]: phrases of syllables with pauses."""
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * rate))
    t = np.arange(n) / rate
    f0 = 120 + 15 * np.sin(2 * np.pi * 0.3 * t) + 3 * np.sin(2 * np.pi * 5.0 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    envelope = np.zeros(n)
    vowel_of_sample = np.zeros(n, dtype=int)
    noise_env = np.zeros(n)
    pos = int(0.5 * rate)  # start with half a second of silence
    while pos < n:
        phrase_end = pos + int(rng.uniform(1.0, 3.0) * rate)
        while pos < min(phrase_end, n):
            length = int(rng.uniform(0.12, 0.28) * rate)
            seg = slice(pos, min(pos + length, n))
            tau = np.linspace(0, 1, seg.stop - seg.start, endpoint=False)
            envelope[seg] = rng.uniform(0.35, 1.0) * np.sin(np.pi * tau) ** 1.5
            vowel_of_sample[seg] = rng.integers(len(VOWELS))
            burst = min(int(0.02 * rate), seg.stop - seg.start)
            noise_env[seg.start : seg.start + burst] = rng.uniform(0.05, 0.2)
            pos += length
        pos += int(rng.uniform(0.3, 0.8) * rate)  # pause between phrases

    voiced = np.zeros(n)
    for k in range(1, 30):
        freq = k * f0
        for v, (f1, f2) in enumerate(VOWELS):
            weight = 1 / k * (np.exp(-(((freq - f1) / 150) ** 2)) + 0.6 * np.exp(-(((freq - f2) / 200) ** 2)) + 0.05)
            voiced += np.where(vowel_of_sample == v, weight, 0.0) * np.sin(k * phase) * (freq < rate / 2)
    noise = rng.standard_normal(n)
    signal = envelope * voiced / np.abs(voiced).max() + noise_env * noise + 1e-4 * rng.standard_normal(n)
    return (0.8 * signal / np.abs(signal).max()).astype(np.float32)


def mouth_opening_from_audio(audio: np.ndarray, fps: float, n_frames: int, rate: int = 16_000) -> np.ndarray:
    """The ground-truth opening (T,) in [0, 1] at each frame time: RMS over 40 ms, normalized.

    RMS is taken in a 40 ms window centred on each frame's timestamp, divided by its
    95th percentile over speech, clipped, and smoothed by a zero-phase Gaussian of
    one frame, so the mouth follows loudness without jitter.
    """
    rms = frame_rms(audio, fps, n_frames, window_s=0.04, rate=rate)
    loud = rms[rms > 0.01]
    scale = np.percentile(loud, 95) if len(loud) else 1.0
    opening = np.clip(rms / scale, 0, 1)
    return gaussian_filter1d(opening, 1.0, mode="nearest").clip(0, 1).astype(np.float32)

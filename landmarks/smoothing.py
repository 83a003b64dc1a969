"""Gap filling and zero-phase temporal smoothing of landmark tracks.

Smoothing is offline and symmetric (a Gaussian over past and future frames),
so it removes detector jitter without delaying the mouth: a causal filter
would make the lips lag the audio.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d


def valid_segments(valid: np.ndarray) -> list[tuple[int, int]]:
    """Half-open [start, end) index ranges of consecutive True values in (T,) bool."""
    padded = np.concatenate([[False], valid.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


def interpolate_gaps(points: np.ndarray, detected: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Linearly fill interior gaps of at most ``max_gap`` frames.

    ``points`` is (T, N, 2) with anything in undetected frames; returns the filled
    copy and the (T,) valid mask. Longer gaps and gaps at either end stay invalid
    (their rows are NaN).
    """
    out = np.array(points, dtype=np.float32, copy=True)
    valid = detected.astype(bool).copy()
    out[~valid] = np.nan
    segments = valid_segments(valid)
    for (_, end), (start, _) in zip(segments[:-1], segments[1:], strict=True):
        gap = start - end
        if gap > max_gap:
            continue
        left, right = out[end - 1], out[start]
        weights = (np.arange(1, gap + 1, dtype=np.float32) / (gap + 1))[:, None, None]
        out[end:start] = left * (1 - weights) + right * weights
        valid[end:start] = True
    return out, valid


def smooth_tracks(points: np.ndarray, valid: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing along time within each valid segment.

    (T, N, 2) -> (T, N, 2); invalid rows are returned unchanged. Segments are
    filtered separately so a track never bleeds across a gap.
    """
    out = np.array(points, dtype=np.float32, copy=True)
    if sigma_frames <= 0:
        return out
    for start, end in valid_segments(valid):
        if end - start > 1:
            out[start:end] = gaussian_filter1d(out[start:end], sigma_frames, axis=0, mode="nearest")
    return out

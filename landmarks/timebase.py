"""The one place where time is converted between rates.

Audio features run at their own rate (100 Hz by default); video runs at the
footage's fps (25, 29.97, 30 and variable frame rates all occur). Every
conversion goes through timestamps in seconds, never through index ratios.
"""

from __future__ import annotations

import math

import numpy as np


def frame_timestamps(n_frames: int, fps: float, start_s: float = 0.0) -> np.ndarray:
    """Presentation times (seconds) of ``n_frames`` frames at a constant ``fps``. Shape (T,)."""
    return start_s + np.arange(n_frames, dtype=np.float64) / float(fps)


def n_frames_for_duration(duration_s: float, fps: float) -> int:
    """Number of video frames that cover ``duration_s`` seconds of audio at ``fps``.

    Frame i is shown during [i/fps, (i+1)/fps); we emit every frame whose start
    lies inside the audio, so the video lasts ``duration_s`` rounded up to one frame.
    The small epsilon keeps 2.0 s at 25 fps at exactly 50 frames despite float error.
    """
    if duration_s <= 0:
        return 0
    return int(math.ceil(duration_s * fps - 1e-6))


def resample_by_time(values: np.ndarray, src_times: np.ndarray, dst_times: np.ndarray) -> np.ndarray:
    """Linearly interpolate ``values`` (T_src, ...) sampled at ``src_times`` to ``dst_times``.

    Times are seconds and ``src_times`` must be increasing. Outside the source
    range the first/last value is held. Returns (T_dst, ...) float32.
    """
    values = np.asarray(values, dtype=np.float32)
    src_times = np.asarray(src_times, dtype=np.float64)
    dst_times = np.asarray(dst_times, dtype=np.float64)
    if len(src_times) != len(values):
        raise ValueError(f"{len(values)} values but {len(src_times)} timestamps")
    if len(values) == 0:
        raise ValueError("cannot resample an empty sequence")
    flat = values.reshape(len(values), -1)
    out = np.empty((len(dst_times), flat.shape[1]), dtype=np.float32)
    for j in range(flat.shape[1]):
        out[:, j] = np.interp(dst_times, src_times, flat[:, j])
    return out.reshape((len(dst_times),) + values.shape[1:])


def nearest_index(src_times: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Index of the source sample nearest to each time ``t`` (seconds)."""
    src_times = np.asarray(src_times, dtype=np.float64)
    idx = np.searchsorted(src_times, t)
    idx = np.clip(idx, 1, len(src_times) - 1)
    left = src_times[idx - 1]
    right = src_times[idx]
    idx = idx - ((np.asarray(t) - left) < (right - np.asarray(t)))
    return np.clip(idx, 0, len(src_times) - 1)

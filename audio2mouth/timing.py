"""The one place where audio2mouth moves sequences between the feature rate and the video fps.

Everything goes through timestamps (seconds) and ``landmarks.timebase``; no
index ratios. Targets (video frames) are interpolated to feature steps for
training; predictions (feature steps) are interpolated to frame times for
metrics and inference.
"""

from __future__ import annotations

import numpy as np

from landmarks.timebase import frame_timestamps, n_frames_for_duration, resample_by_time


def frames_to_steps(
    values: np.ndarray, valid: np.ndarray, frame_times: np.ndarray, step_times: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Video-rate targets (T, k) -> feature-rate targets (T', k) and a (T',) bool mask.

    A step is valid only if both frames it interpolates between are valid, so a
    missing face never leaks into the training signal through interpolation.
    """
    values = np.where(valid[:, None], values, 0.0)
    out = resample_by_time(values, frame_times, step_times)
    mask = resample_by_time(valid.astype(np.float32), frame_times, step_times) > 0.999
    inside = (step_times >= frame_times[0] - 1e-9) & (step_times <= frame_times[-1] + 1e-9)
    return out, mask & inside


def steps_to_frames(
    values: np.ndarray, step_times: np.ndarray, frame_times: np.ndarray
) -> np.ndarray:
    """Feature-rate predictions (T', ...) -> values at the given frame times (T, ...)."""
    return resample_by_time(values, step_times, frame_times)


def output_frame_times(duration_s: float, fps: float) -> np.ndarray:
    """(T,) seconds of the frames a video of ``duration_s`` seconds of audio at ``fps`` needs."""
    return frame_timestamps(n_frames_for_duration(duration_s, fps), fps)

"""Timestamp conversion, gap filling and zero-phase smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from landmarks.smoothing import interpolate_gaps, smooth_tracks, valid_segments
from landmarks.timebase import frame_timestamps, n_frames_for_duration, nearest_index, resample_by_time


@pytest.mark.parametrize("fps", [25.0, 30.0, 30000 / 1001])
def test_frame_count_equals_duration_times_fps(fps):
    for duration in [1.0, 2.0, 10.0, 59.97, 60.0]:
        n = n_frames_for_duration(duration, fps)
        assert (n - 1) / fps < duration <= n / fps + 1e-9


def test_resample_by_time_between_100hz_features_and_video():
    t_feat = np.arange(0, 4, 0.01)
    values = np.stack([np.sin(t_feat), t_feat], axis=1)
    t_video = frame_timestamps(100, 29.97)
    out = resample_by_time(values, t_feat, t_video)
    np.testing.assert_allclose(out[:, 1], t_video, atol=1e-5)
    np.testing.assert_allclose(out[:, 0], np.sin(t_video), atol=1e-4)
    back = resample_by_time(out, t_video, t_feat[t_feat <= t_video[-1]])
    np.testing.assert_allclose(back[:, 1], t_feat[t_feat <= t_video[-1]], atol=1e-5)


def test_nearest_index_handles_variable_frame_rate():
    times = np.array([0.0, 0.04, 0.07, 0.15, 0.2])
    np.testing.assert_array_equal(nearest_index(times, [0.0, 0.05, 0.06, 0.12, 0.5]), [0, 1, 2, 3, 4])


def test_short_gaps_are_interpolated_long_gaps_stay_invalid():
    t = np.arange(40, dtype=np.float32)
    pts = np.repeat(t[:, None, None], 68, axis=1).repeat(2, axis=2)
    detected = np.ones(40, bool)
    detected[5:8] = False  # 3 frames: filled
    detected[20:30] = False  # 10 frames: too long
    detected[:1] = False  # leading gap: stays invalid
    filled, valid = interpolate_gaps(pts, detected, max_gap=4)
    np.testing.assert_allclose(filled[5:8, 0, 0], [5, 6, 7])
    assert valid[5:8].all() and not valid[20:30].any() and not valid[0]
    assert valid_segments(valid) == [(1, 20), (30, 40)]


def test_smoothing_is_zero_phase_and_stays_within_segments():
    t = np.arange(200)
    signal = np.sin(2 * np.pi * t / 50.0)
    pts = np.zeros((200, 68, 2), np.float32)
    pts[..., 0] = signal[:, None]
    noisy = pts + np.random.default_rng(0).normal(0, 0.05, pts.shape).astype(np.float32)
    valid = np.ones(200, bool)
    smooth = smooth_tracks(noisy, valid, sigma_frames=1.5)
    lag = np.argmax(np.correlate(smooth[50:150, 0, 0], signal[50:150], "full")) - 99
    assert lag == 0  # no delay: the mouth must not lag the audio
    assert np.abs(smooth - pts).mean() < np.abs(noisy - pts).mean() / 2
    valid[100] = False
    split = smooth_tracks(noisy, valid, sigma_frames=3.0)
    np.testing.assert_array_equal(split[100], noisy[100])

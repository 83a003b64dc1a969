"""Audio features, normalization, rate conversion and the metrics' definitions."""

from __future__ import annotations

import numpy as np
import pytest

from audio2mouth.features import AudioFeatures, Normalizer, check_audio
from audio2mouth.metrics import coefficient_metrics, pearson
from audio2mouth.timing import frames_to_steps, output_frame_times, steps_to_frames
from landmarks.errors import LipsyncError


def test_mfcc_shape_rate_and_times():
    feats = AudioFeatures()
    audio = np.random.default_rng(0).standard_normal(16000 * 2).astype(np.float32) * 0.1
    x = feats(audio)
    assert feats.n_features == 28 and x.shape == (201, 28) and x.dtype == np.float32
    assert np.allclose(feats.times(3), [0.0, 0.01, 0.02])
    logmel = AudioFeatures(kind="logmel", n_mels=40)
    assert logmel(audio).shape == (201, 80) == (201, logmel.n_features)


def test_energy_follows_loudness_and_silence_is_constant():
    feats = AudioFeatures()
    rng = np.random.default_rng(0)
    audio = np.concatenate([np.zeros(16000), 0.3 * rng.standard_normal(16000)]).astype(np.float32)
    x = feats(audio)
    energy = x[:, 13]
    assert energy[150:].mean() > energy[:50].mean() + 5  # log energy jumps with the sound
    assert np.ptp(x[10:90], axis=0).max() < 1e-4  # silence: still, constant features
    assert np.isfinite(x).all()


def test_check_audio_handles_stereo_ints_clipping_and_rejects_bad_input():
    stereo = np.stack([np.full(100, 0.5), np.full(100, -0.5)], axis=1)
    assert np.allclose(check_audio(stereo), 0.0)
    assert check_audio(np.array([32767, -32768], np.int16)).max() == pytest.approx(1.0, abs=1e-4)
    assert check_audio(np.array([3.0, -5.0])).tolist() == [1.0, -1.0]
    for bad in (np.zeros(0), np.array([np.nan, 0.0]), np.zeros((2, 2, 2))):
        with pytest.raises(LipsyncError):
            check_audio(bad)


def test_normalizer_round_trip():
    x = np.random.default_rng(1).normal(3.0, 2.0, (500, 4)).astype(np.float32)
    norm = Normalizer.fit(x)
    z = norm.apply(x)
    assert np.allclose(z.mean(0), 0, atol=1e-4) and np.allclose(z.std(0), 1, atol=1e-3)
    assert np.allclose(norm.invert(z), x, atol=1e-4)


def test_a_channel_never_seen_in_fitting_stays_zero():
    # a one-hot class absent from the train block: constant 0 there, 1 at speak time
    train = np.zeros((300, 3), np.float32)
    train[:, 0] = np.random.default_rng(2).normal(0, 1, 300)
    train[::3, 1] = 1.0
    norm = Normalizer.fit(train)
    heard = np.array([[0.5, 1.0, 1.0]], np.float32)
    z = norm.apply(heard)
    assert z[0, 2] == 0.0  # not 1 / floor = 1000
    assert z[0, 1] == pytest.approx((1.0 - 1 / 3) / np.sqrt(2 / 9), rel=1e-3)  # seen classes standardized
    assert np.abs(norm.apply(train)[:, 2]).max() == 0.0  # training saw 0 there and still does


@pytest.mark.parametrize("fps", [25.0, 29.97, 30.0])
def test_frames_to_steps_and_back_by_timestamps(fps: float):
    frame_t = np.arange(int(4 * fps)) / fps
    values = np.stack([np.sin(frame_t), frame_t], axis=1).astype(np.float32)
    step_t = AudioFeatures().times(401)
    steps, mask = frames_to_steps(values, np.ones(len(frame_t), bool), frame_t, step_t)
    assert steps.shape == (401, 2)
    assert np.allclose(steps[mask, 1], step_t[mask], atol=1e-5)  # linear signal is exact
    assert not mask[step_t > frame_t[-1] + 1e-6].any()  # no extrapolated targets
    back = steps_to_frames(steps, step_t, frame_t)
    assert np.allclose(back[:, 0], values[:, 0], atol=3e-3)  # a 1-frame shift is ~3e-2


def test_invalid_frames_never_leak_into_steps():
    frame_t = np.arange(20) / 25.0
    valid = np.ones(20, bool)
    valid[10] = False
    step_t = np.arange(80) / 100.0
    _, mask = frames_to_steps(np.ones((20, 1), np.float32), valid, frame_t, step_t)
    near = (step_t > frame_t[9]) & (step_t < frame_t[11])
    assert not mask[near].any() and mask[~near & (step_t <= frame_t[-1])].all()


def test_output_frames_cover_the_audio():
    assert len(output_frame_times(2.0, 25.0)) == 50
    assert len(output_frame_times(2.01, 25.0)) == 51
    assert len(output_frame_times(1.0, 29.97)) == 30


def test_int_mse_is_mse_of_frame_differences():
    true = np.zeros((5, 1), np.float32)
    pred = np.array([[0], [1], [0], [1], [0]], np.float32)  # jitter around the truth
    m = coefficient_metrics(pred, true, np.ones(5, bool))
    assert m["mse"] == pytest.approx(0.4) and m["mae"] == pytest.approx(0.4)
    assert m["int_mse"] == pytest.approx(1.0)
    shifted = coefficient_metrics(true + 1, true, np.ones(5, bool))  # offset, right dynamics
    assert shifted["int_mse"] == 0 and shifted["mse"] == 1
    assert pearson(np.arange(5.0), 2 * np.arange(5.0)) == pytest.approx(1.0)
    assert pearson(np.ones(5), np.arange(5.0)) == 0.0

"""Viseme features on the timestamp contract, the viseme models, augmentation and per-utterance norm."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audio2mouth.augment import Augmentation, augmentations
from audio2mouth.components import VisemeBlend, VisemeResidualTCN
from audio2mouth.features import AudioFeatures
from audio2mouth.timing import frames_to_steps
from landmarks.errors import LipsyncError
from landmarks.phones import Phones
from landmarks.visemes import BILABIAL, OPENNESS, PHONE_TO_VISEME, VISEMES, viseme_ids

RATE = 16000


def test_viseme_block_follows_phone_times_whatever_the_video_rate():
    phones = Phones(np.array([0.0, 0.30, 0.42, 0.70]), np.array([0.30, 0.42, 0.70, 1.0]), ["SIL", "P", "AA", "SIL"])
    feats = AudioFeatures(kind="mfcc_visemes")
    audio = (0.1 * np.random.default_rng(0).standard_normal(RATE)).astype(np.float32)
    x = feats(audio, phones)
    assert x.shape == (101, feats.n_acoustic + len(VISEMES)) == (101, feats.n_features)
    block = x[:, -len(VISEMES):]
    assert (block.sum(1) == 1).all()
    # step j is at j * 10 ms: P covers steps 30..41, AA 42..69
    assert block[30:42, BILABIAL].all() and not block[29, BILABIAL] and not block[42, BILABIAL]
    assert block[42:70, PHONE_TO_VISEME["AA"]].all()
    # video frames at 25, 29.97 and 30 fps see the phone that covers their own timestamp
    for fps in (25.0, 30000 / 1001, 30.0):
        frame_t = np.arange(int(fps)) / fps
        ids = viseme_ids(phones, frame_t)
        in_p = (frame_t >= 0.30) & (frame_t < 0.42)
        assert (ids[in_p] == BILABIAL).all() and (ids[~in_p] != BILABIAL).all()
    assert OPENNESS[BILABIAL] == 0 and OPENNESS[PHONE_TO_VISEME["AA"]] == OPENNESS.max()


def test_visemes_kind_has_no_acoustic_block_and_recognizes_nothing_it_is_given():
    feats = AudioFeatures(kind="visemes")
    empty = Phones(np.zeros(0), np.zeros(0), [])
    x = feats(np.zeros(RATE // 2, np.float32), empty)
    assert feats.n_acoustic == 0 and x.shape == (51, len(VISEMES)) and (x[:, 0] == 1).all()


def test_viseme_blend_gives_each_class_its_own_shape_and_reads_only_the_viseme_block():
    net = VisemeBlend(in_features=28 + 12, out_features=4, n_visemes=12, context=3, sigma=1.0)
    x = torch.zeros(1, 50, 40)
    x[0, :, -12 + 1] = 1  # PBM all along
    y_pbm = net(x)
    x2 = x.clone()
    x2[0, :, :28] = torch.randn(50, 28)  # acoustic noise changes nothing
    assert torch.allclose(net(x2), y_pbm)
    x3 = torch.zeros(1, 50, 40)
    x3[0, :, -12 + 10] = 1  # OPEN all along
    assert not torch.allclose(net(x3), y_pbm)
    residual = VisemeResidualTCN(40, 4, channels=8, dilations=(1, 2))
    assert residual(x).shape == (1, 50, 4) and residual.future_context >= 3


def test_speed_perturbation_retimes_audio_phones_and_targets_together():
    aug = Augmentation(speed=1.25)
    audio = np.zeros(RATE * 2, np.float32)
    audio[RATE : RATE + 160] = 0.5  # a click at 1.0 s
    fast = aug.apply(audio)
    assert abs(len(fast) - len(audio) / 1.25) <= 2
    assert abs(np.argmax(np.abs(fast)) / RATE - 1.0 * aug.time_scale) < 0.01  # the click moved to 0.8 s
    phones = Phones(np.array([1.0]), np.array([1.2]), ["P"]).scaled(aug.time_scale)
    assert np.allclose([phones.start_s[0], phones.end_s[0]], [0.8, 0.96])
    frame_t = np.arange(50) / 25.0
    values = (frame_t == 1.0).astype(np.float32)[:, None]  # a target event at 1.0 s
    steps, mask = frames_to_steps(values, np.ones(50, bool), frame_t * aug.time_scale, np.arange(160) / 100)
    assert abs(np.argmax(steps[:, 0]) / 100 - 0.8) < 0.011 and mask[:150].all()
    assert [a.speed for a in augmentations({"enabled": True, "speeds": [0.9, 1.1]})] == [0.9, 1.1]
    assert augmentations({"enabled": False, "speeds": [0.9]}) == []


@pytest.mark.parametrize("kind", ["mfcc_visemes"])
def test_utterance_norm_removes_the_recording_level(kind):
    rng = np.random.default_rng(1)
    env = np.repeat(rng.uniform(0, 1, 40) > 0.5, RATE // 20).astype(np.float32)
    audio = (0.2 * env * rng.standard_normal(len(env))).astype(np.float32)
    feats = AudioFeatures(kind=kind, utterance_norm=True)
    empty = Phones(np.zeros(0), np.zeros(0), [])
    loud, quiet = feats(audio, empty), feats(audio * 0.5, empty)  # 6 dB quieter
    from scipy.ndimage import binary_erosion

    voiced = binary_erosion(np.append(env[:: RATE // 100] > 0, False)[: len(loud)], iterations=3)
    assert voiced.sum() > 30
    diff = np.abs(loud[voiced, : feats.n_acoustic] - quiet[voiced, : feats.n_acoustic]).mean()
    raw = AudioFeatures(kind=kind)
    raw_diff = np.abs(raw(audio, empty)[voiced, :14] - raw(audio * 0.5, empty)[voiced, :14]).mean()
    assert diff < 0.05 < 0.5 < raw_diff, (diff, raw_diff)


def test_sqrt_r_gain_keeps_predictable_motion_and_shrinks_noise():
    from types import SimpleNamespace

    from audio2mouth.features import Normalizer
    from audio2mouth.module import Audio2MouthModule

    rng = np.random.default_rng(0)
    true = rng.standard_normal((4000, 2))
    # coefficient 0: a perfect but half-size prediction; coefficient 1: pure noise
    pred = np.stack([0.5 * true[:, 0], rng.standard_normal(4000)], axis=1)
    module = Audio2MouthModule.__new__(Audio2MouthModule)  # only the gain code is under test
    module.speaker = SimpleNamespace(target_norm=Normalizer(np.zeros(2, np.float32), np.ones(2, np.float32)))
    module.last_eval = {"val": {"pred": pred, "true": true, "valid": np.ones(4000, bool)}}
    gain = module.fit_output_gain("val", "sqrt_r")
    assert gain[0] == pytest.approx(2.0, abs=0.05) and gain[1] < 0.2  # full-size motion back; noise shrunk
    shrink = module.fit_output_gain("val", "shrink")
    assert shrink[0] == pytest.approx(1.0) and shrink[1] < 0.05  # least squares never enlarges


def test_closure_weight_is_one_on_bilabials_and_ramps_off():
    from audio2mouth.inference import closure_weight

    phones = Phones(np.array([0.0, 0.5, 0.6]), np.array([0.5, 0.6, 1.0]), ["AA", "M", "AA"])
    times = np.array([0.40, 0.47, 0.49, 0.55, 0.61, 0.63, 0.70])
    w = closure_weight(phones, times, ramp_s=0.02)
    assert w.tolist() == pytest.approx([0.0, 0.0, 0.5, 1.0, 0.5, 0.0, 0.0], abs=1e-6)
    assert closure_weight(Phones(np.zeros(0), np.zeros(0), []), times).max() == 0


def test_bilabial_closure_auto_trusts_only_aligned_phones():
    from audio2mouth.inference import closes_on_bilabials
    from pipeline.speak import closure_option

    def closure_setting(value):
        return closure_option({"bilabial_closure": value})

    recognized = Phones(np.array([0.0]), np.array([0.1]), ["P"])
    aligned = Phones(np.array([0.0]), np.array([0.1]), ["P"], aligned=True)
    assert closes_on_bilabials("auto", aligned) and not closes_on_bilabials("auto", recognized)
    assert closes_on_bilabials(True, recognized) and not closes_on_bilabials(False, aligned)
    assert not closes_on_bilabials(True, None)
    assert closure_setting("auto") == "auto" and closure_setting("false") is False and closure_setting(True) is True
    with pytest.raises(LipsyncError, match="bilabial_closure"):
        closure_setting("sometimes")

"""calibrate=opening: one gain on the inner-lip opening direction undoes a mumbling prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audio2mouth.bundle import load_bundle
from audio2mouth.features import Normalizer
from audio2mouth.metrics import mouth_opening_from_shapes
from audio2mouth.module import Audio2MouthModule
from audio2mouth.speaker import SpeakerData
from audio2mouth.train import train
from landmarks.errors import LipsyncError
from landmarks.indices import LOWER_FACE
from landmarks.pca import LowerFacePCA


def speaker_with_two_motions(seed: int = 0) -> tuple[SpeakerData, np.ndarray]:
    """A speaker whose shapes move two ways: the lower lip opens, and the whole jaw shifts
    sideways (a motion that leaves the inner-lip gap alone). Returns it and its (T, k) coeffs."""
    rng = np.random.default_rng(seed)
    points = len(LOWER_FACE)
    base = rng.normal(0, 0.3, (points, 2)).astype(np.float32)
    upper, lower = list(LOWER_FACE).index(62), list(LOWER_FACE).index(66)
    base[lower] = base[upper]
    opening = np.zeros((points, 2), np.float32)
    opening[[list(LOWER_FACE).index(i) for i in (56, 57, 58, 65, 66, 67)], 1] = 1.0
    sideways = np.zeros((points, 2), np.float32)
    sideways[:, 0] = 1.0
    a, b = rng.uniform(0.2, 0.4, 500), rng.normal(0, 0.1, 500)  # the lips never close: no |gap| fold
    shapes = base + a[:, None, None] * opening + b[:, None, None] * sideways
    pca = LowerFacePCA.fit(shapes.astype(np.float32), n_components=2)
    coeffs = pca.encode(shapes)
    speaker = SpeakerData(
        feature_norm=Normalizer(np.zeros(1, np.float32), np.ones(1, np.float32)),
        target_norm=Normalizer(coeffs.mean(0).astype(np.float32), coeffs.std(0).astype(np.float32)),
        pca=pca,
        lower_face_indices=np.asarray(LOWER_FACE),
        reference=np.zeros((68, 2), np.float32),
        rest_coeffs=pca.encode(base[None])[0].astype(np.float32),  # lips closed (gap 0.2-0.4 in the clip)
        fps=25.0,
    )
    return speaker, coeffs


def test_the_gain_scales_the_opening_and_nothing_orthogonal_to_it():
    speaker, coeffs = speaker_with_two_motions()
    outputs = speaker.target_norm.apply(coeffs)
    assert np.allclose(speaker.outputs_to_coeffs(outputs), coeffs, atol=1e-5)  # gain 1: plain inversion
    speaker.opening_gain = 1.5
    scaled = speaker.outputs_to_coeffs(outputs)
    gap = mouth_opening_from_shapes(speaker.pca.decode(coeffs), speaker.lower_face_indices)
    gap_scaled = mouth_opening_from_shapes(speaker.pca.decode(scaled), speaker.lower_face_indices)
    assert gap_scaled.std() / gap.std() == pytest.approx(1.5, rel=1e-3)
    # the sideways jaw shift is orthogonal to the opening: untouched
    x_before = speaker.pca.decode(coeffs)[:, :, 0].mean(1)
    x_after = speaker.pca.decode(scaled)[:, :, 0].mean(1)
    assert np.allclose(x_before, x_after, atol=1e-4)


def test_the_gain_never_closes_the_lips_past_the_rest_shape():
    speaker, coeffs = speaker_with_two_motions()
    speaker.opening_gain = 4.0  # unclamped, the least open frames would go 0.4 past closed
    gap = lambda c: mouth_opening_from_shapes(speaker.pca.decode(c), speaker.lower_face_indices)  # noqa: E731
    rest_gap = gap(speaker.rest_coeffs[None])[0]
    u = speaker.opening_direction()
    below_rest = speaker.rest_coeffs - 0.05 * u  # a network output already more closed than rest
    outputs = speaker.target_norm.apply(np.concatenate([coeffs, below_rest[None]]))
    scaled = speaker.outputs_to_coeffs(outputs)
    assert gap(scaled[:-1]).min() == pytest.approx(rest_gap, abs=1e-4)  # scaled, but floored at rest
    assert np.allclose(scaled[-1], below_rest, atol=1e-5)  # left where the network put it
    opened = gap(coeffs) > gap(coeffs).mean()
    assert np.all(gap(scaled[:-1])[opened] > gap(coeffs)[opened])


def test_fitted_gain_restores_the_truths_motion_and_never_shrinks():
    speaker, coeffs = speaker_with_two_motions()
    mean = speaker.target_norm.mean
    module = Audio2MouthModule.__new__(Audio2MouthModule)  # only the gain code is under test
    module.speaker = speaker
    valid = np.ones(len(coeffs), bool)
    # a prediction that mumbles: its opening moves 0.6 as much as the truth's
    u = speaker.opening_direction()
    mumbled = coeffs - 0.4 * ((coeffs - mean) @ u)[:, None] * u
    module.last_eval = {"val": {"pred": mumbled, "true": coeffs, "valid": valid}}
    assert module.fit_opening_gain("val") == pytest.approx(1 / 0.6, rel=0.01)
    module.last_eval["val"]["pred"] = mean + 1.2 * (coeffs - mean)  # moves more than the truth
    assert module.fit_opening_gain("val") == 1.0
    module.last_eval["val"]["pred"] = mean + 0.1 * (coeffs - mean)
    assert module.fit_opening_gain("val", max_gain=2.0) == 2.0
    module.last_eval["val"]["pred"] = np.broadcast_to(mean, coeffs.shape)  # a still mouth: nothing to scale
    assert module.fit_opening_gain("val") == 1.0


def test_with_the_silence_gate_the_gain_is_fitted_to_the_gated_output():
    """Where speak's gate will rest the mouth, the gated output must move like the truth, not the raw one."""
    speaker, coeffs = speaker_with_two_motions()
    mean, u = speaker.target_norm.mean, speaker.opening_direction()
    module = Audio2MouthModule.__new__(Audio2MouthModule)
    module.speaker = speaker
    valid = np.ones(len(coeffs), bool)
    truth = coeffs.copy()
    pause = np.zeros(len(coeffs), bool)
    pause[::4] = True  # a quarter of the frames are pauses where the footage's lips are at rest
    truth[pause] = speaker.rest_coeffs
    mumbled = truth - 0.4 * ((truth - mean) @ u)[:, None] * u
    mumbled[pause] = mean  # the networks keep the mouth half open in pauses
    module.last_eval = {"val": {"pred": mumbled, "true": truth, "valid": valid}}
    ungated = module.fit_opening_gain("val")
    weight = pause.astype(np.float32)
    gated = module.fit_opening_gain("val", rest_weight=weight)
    assert 1.0 <= gated < ungated - 0.1  # resting the pauses already restores part of the motion
    out = (1 - weight[:, None]) * speaker.with_opening_gain(mumbled, gated) + weight[:, None] * speaker.rest_coeffs
    gap = lambda c: mouth_opening_from_shapes(speaker.pca.decode(c), speaker.lower_face_indices)  # noqa: E731
    assert gap(out).std() / gap(truth).std() == pytest.approx(1.0, abs=0.02)
    # no frame gated: the closed form of before
    assert module.fit_opening_gain("val", rest_weight=np.zeros(len(coeffs))) == ungated


def test_a_calibrated_run_saves_its_gain_and_speak_uses_it(fake_cache: Path, tmp_path: Path, shrunk):
    results = train(shrunk("tcn", fake_cache, tmp_path, ["calibrate=opening"]))
    assert 1.0 <= results["opening_gain"] <= 2.0
    run = load_bundle(tmp_path)
    assert run.speaker.opening_gain == pytest.approx(results["opening_gain"])
    assert results["calibrate_gated"] is False
    # fitted to the gated output, the run goes through the val block's audio (no error, a gain in range)
    gated = train(shrunk("tcn", fake_cache, tmp_path / "gated", ["calibrate=opening", "calibrate_gated=true"]))
    assert gated["calibrate_gated"] is True and 1.0 <= gated["opening_gain"] <= 2.0


def test_an_unknown_calibration_fails_before_training(fake_cache: Path, tmp_path: Path, shrunk):
    with pytest.raises(LipsyncError, match="calibrate='openness'"):
        train(shrunk("tcn", fake_cache, tmp_path, ["calibrate=openness"]))
    assert not (tmp_path / "model").exists()

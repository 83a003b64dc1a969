"""The silence gate: digital silence of any length and long pauses rest the mouth; short pauses and speech do not."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from audio2mouth.silence import SilenceGate, runs_at_least
from landmarks.errors import LipsyncError
from landmarks.media import AUDIO_RATE

SPEECH_S, SHORT_PAUSE_S, LONG_PAUSE_S = 1.5, 0.25, 1.0


def utterance(pause_db: float, seed: int = 0) -> tuple[np.ndarray, dict[str, tuple[float, float]]]:
    """Speech-like noise bursts (-13 dBFS) separated by a short and a long pause of room noise at ``pause_db``.

    Returns the audio and the (start, end) seconds of each part."""
    rng = np.random.default_rng(seed)
    parts, spans, t = [], {}, 0.0
    for name, seconds, level_db in (("speech1", SPEECH_S, -13), ("short", SHORT_PAUSE_S, pause_db),
                                    ("speech2", SPEECH_S, -13), ("long", LONG_PAUSE_S, pause_db),
                                    ("speech3", SPEECH_S, -13)):
        n = int(seconds * AUDIO_RATE)
        parts.append(rng.normal(scale=10 ** (level_db / 20), size=n).astype(np.float32))
        spans[name] = (t, t + seconds)
        t += seconds
    return np.concatenate(parts), spans


def mean_weight(gate: SilenceGate, audio: np.ndarray, span: tuple[float, float], margin: float = 0.15) -> float:
    times = np.arange(span[0] + margin, span[1] - margin, 0.04)
    return float(gate.weight(audio, times).mean())


def test_a_long_pause_in_room_noise_rests_the_mouth_a_short_one_does_not():
    audio, spans = utterance(pause_db=-52)  # above the absolute -60 dBFS: only the pause rule can act
    gate = SilenceGate()
    assert mean_weight(gate, audio, spans["long"]) == pytest.approx(1.0)
    assert mean_weight(gate, audio, spans["short"], margin=0.0) == 0.0
    for speech in ("speech1", "speech2", "speech3"):
        assert mean_weight(gate, audio, spans[speech], margin=0.0) == 0.0
    # the old gate (absolute level only) never fired in such a recording
    assert mean_weight(SilenceGate(pause_below_peak_db=None), audio, spans["long"]) == 0.0


def test_pauses_are_judged_against_the_recordings_own_loud_speech():
    """A recording 20 dB quieter throughout pauses in the same places (the absolute part switched off)."""
    audio, spans = utterance(pause_db=-52)
    gate = SilenceGate(silence_db=None)
    loud = gate.weight(audio, np.arange(0, 6.5, 0.04))
    quiet = gate.weight(0.1 * audio, np.arange(0, 6.5, 0.04))
    np.testing.assert_allclose(quiet, loud, atol=1e-6)
    # a pause only 20 dB below the speech is not a pause: a soft word must not close the mouth
    soft, soft_spans = utterance(pause_db=-33)
    assert mean_weight(gate, soft, soft_spans["long"]) == 0.0


def test_digital_silence_rests_the_mouth_whatever_its_length():
    audio, spans = utterance(pause_db=-200)
    gate = SilenceGate(pause_below_peak_db=None)
    assert mean_weight(gate, audio, spans["short"], margin=0.07) == pytest.approx(1.0)
    assert mean_weight(gate, audio, spans["long"]) == pytest.approx(1.0)


def test_runs_shorter_than_the_minimum_are_dropped():
    mask = np.array([1, 1, 0, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1], bool)
    kept = runs_at_least(mask, 3)
    np.testing.assert_array_equal(kept, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1])
    assert not runs_at_least(np.zeros(5, bool), 3).any()


def test_speak_and_evaluate_refuse_a_bad_gate_setting():
    from pipeline.speak import gate_from

    assert gate_from(OmegaConf.create({})) == SilenceGate()
    assert gate_from(OmegaConf.create({"pause_below_peak_db": None})).pause_below_peak_db is None
    with pytest.raises(LipsyncError, match="pause_min_s must be a positive"):
        gate_from(OmegaConf.create({"pause_min_s": 0}))
    with pytest.raises(LipsyncError, match="silence_db must be a number or null"):
        gate_from(OmegaConf.create({"silence_db": "quiet"}))

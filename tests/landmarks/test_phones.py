"""Timed phones (landmarks.phones, landmarks.align) and visemes (landmarks.visemes)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from landmarks import align as engine
from landmarks.errors import LipsyncError
from landmarks.media import load_audio
from landmarks.phones import Phones, align, phones_for, recognize, split_points
from landmarks.visemes import (
    BILABIAL,
    OPENNESS,
    PHONE_TO_VISEME,
    VISEMES,
    bilabial_intervals,
    one_hot,
    openness,
    viseme_ids,
)

RATE = 16_000
SENTENCE = "Bob bought a map by the big pub"
# cmudict: bob(3) bought(3) a(1) map(3) by(2) the(2) big(3) pub(3); P/B/M: 2+1+0+2+1+0+1+2
SENTENCE_PHONES, SENTENCE_BILABIALS = 20, 9
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng)")


def speak(tmp_path_factory, text: str, name: str) -> np.ndarray:
    """``text`` synthesized by espeak-ng (US English), as (N,) float32 16 kHz."""
    path = tmp_path_factory.mktemp("tts") / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True)
    return load_audio(path)


@pytest.fixture(scope="module")
def sentence(tmp_path_factory) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return speak(tmp_path_factory, SENTENCE, "bob")


def check_timeline(phones: Phones, duration_s: float) -> None:
    """Contiguous, monotonic phones that cover exactly [0, duration_s]."""
    assert len(phones) > 0 and phones.start_s[0] == 0 and phones.end_s[-1] == pytest.approx(duration_s)
    assert (phones.end_s > phones.start_s).all()
    np.testing.assert_array_equal(phones.start_s[1:], phones.end_s[:-1])
    assert set(phones.labels) <= set(PHONE_TO_VISEME)


def example() -> Phones:
    return Phones(np.array([0.0, 0.30, 0.42, 0.70]), np.array([0.30, 0.42, 0.70, 1.0]), ["SIL", "P", "AA", "SIL"])


# --------------------------------------------------------------------------- Phones


def test_phones_save_load_round_trip_without_pickles(tmp_path):
    phones = example()
    phones.save(tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz", allow_pickle=False) as z:
        assert z["labels"].dtype.kind == "U" and z["start_s"].dtype == np.float64
    back = Phones.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(back.start_s, phones.start_s)
    np.testing.assert_array_equal(back.end_s, phones.end_s)
    assert back.labels == phones.labels and all(type(label) is str for label in back.labels)
    empty = Phones(np.zeros(0), np.zeros(0), [])
    empty.save(tmp_path / "empty.npz")
    assert len(Phones.load(tmp_path / "empty.npz")) == 0
    assert not back.aligned
    aligned = Phones(phones.start_s, phones.end_s, phones.labels, aligned=True)
    aligned.save(tmp_path / "aligned.npz")
    assert Phones.load(tmp_path / "aligned.npz").aligned
    assert aligned.shifted(1.0).aligned and aligned.scaled(1.1).aligned
    # a file written before the flag existed reads as recognized
    np.savez(tmp_path / "old.npz", start_s=phones.start_s, end_s=phones.end_s, labels=np.array(phones.labels))
    assert not Phones.load(tmp_path / "old.npz").aligned


def test_phones_load_errors_are_one_line_lipsync_errors(tmp_path):
    with pytest.raises(LipsyncError, match="not found"):
        Phones.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(LipsyncError, match="not a phones file"):
        Phones.load(tmp_path / "other.npz")
    with pytest.raises(LipsyncError, match="equal in number"):
        Phones(np.zeros(2), np.ones(2), ["SIL"])


def test_shifted_scaled_and_rate():
    phones = example()
    moved = phones.shifted(1.5)
    np.testing.assert_allclose(moved.start_s, phones.start_s + 1.5)
    np.testing.assert_allclose(moved.end_s, phones.end_s + 1.5)
    slow = phones.scaled(0.8)
    np.testing.assert_allclose(slow.start_s, phones.start_s * 0.8)
    assert slow.labels == phones.labels and phones.start_s[1] == 0.30  # the original is untouched
    assert phones.rate() == pytest.approx(2 / 0.40)  # P and AA over their 0.40 s
    assert Phones(np.array([0.0]), np.array([1.0]), ["SIL"]).rate() == 0.0
    with pytest.raises(LipsyncError):
        phones.scaled(0)


# --------------------------------------------------------------------------- visemes


def test_viseme_table_covers_every_cmu_phone_and_silence():
    assert set(PHONE_TO_VISEME) == set(engine.ARPABET) | {"SIL"} and len(engine.ARPABET) == 39
    assert VISEMES[0] == "sil" and PHONE_TO_VISEME["SIL"] == 0 and len(VISEMES) == 12
    assert set(PHONE_TO_VISEME.values()) == set(range(len(VISEMES)))  # no empty class
    assert {PHONE_TO_VISEME[p] for p in ("P", "B", "M")} == {BILABIAL}
    assert OPENNESS.shape == (len(VISEMES),) and OPENNESS.dtype == np.float32
    assert OPENNESS.min() >= 0 and OPENNESS.max() <= 1
    assert OPENNESS[0] == OPENNESS[BILABIAL] == 0
    assert all(OPENNESS[PHONE_TO_VISEME[p]] == 1 for p in ("AA", "AE", "AW", "AY", "AH"))


def test_viseme_lookup_at_exact_boundaries():
    phones = example()  # SIL [0, .3), P [.3, .42), AA [.42, .7), SIL [.7, 1)
    times = np.array([-0.1, 0.0, 0.2999, 0.30, 0.4199, 0.42, 0.6999, 0.70, 0.9999, 1.0, 5.0])
    aa = PHONE_TO_VISEME["AA"]
    expected = [0, 0, 0, BILABIAL, BILABIAL, aa, aa, 0, 0, 0, 0]
    np.testing.assert_array_equal(viseme_ids(phones, times), expected)
    hot = one_hot(phones, times)
    assert hot.shape == (len(times), len(VISEMES)) and hot.dtype == np.float32
    np.testing.assert_array_equal(hot.argmax(1), expected)
    assert (hot.sum(1) == 1).all()
    np.testing.assert_array_equal(openness(phones, times), OPENNESS[expected])
    assert bilabial_intervals(phones) == [(0.30, 0.42)]
    assert (viseme_ids(Phones(np.zeros(0), np.zeros(0), []), times) == 0).all()
    # a gap between phones is silence; stress digits are ignored
    gap = Phones(np.array([0.0, 0.5]), np.array([0.2, 0.6]), ["M", "IY1"])
    np.testing.assert_array_equal(viseme_ids(gap, [0.1, 0.3, 0.55]), [BILABIAL, 0, PHONE_TO_VISEME["IY"]])


# --------------------------------------------------------------------------- pronunciations


def test_ipa_and_spelling_fallbacks():
    assert engine.ipa_to_arpabet("bˈɑːb bˈɔːt") == ("B", "AA", "B", "B", "AO", "T")
    assert engine.ipa_to_arpabet("tʃˈɜːtʃ dʒˈʌdʒ") == ("CH", "ER", "CH", "JH", "AH", "JH")
    assert engine.ipa_to_arpabet("ðə θˈɪŋ") == ("DH", "AH", "TH", "IH", "NG")
    assert engine.letters_to_phones("zorblax") == ("Z", "AO", "R", "B", "L", "AE", "K", "S")
    assert engine.letters_to_phones("shop") == ("SH", "AA", "P")
    assert engine.letters_to_phones("make") == ("M", "AE", "K")  # silent final e
    assert engine.words_of("Don\u2019t stop -- it's 2020, U.S. well-being!") == [
        "don't", "stop", "it's", "2020", "u.s", "well-being"]


def test_without_espeak_unknown_words_are_spelled(monkeypatch):
    monkeypatch.setattr(engine.shutil, "which", lambda name: None)
    assert engine.pronunciations(["r2d2", "zorblax"]) == [
        [("AA", "R", "T", "UW", "D", "IY", "T", "UW")], [("Z", "AO", "R", "B", "L", "AE", "K", "S")]]


def test_cmudict_words_have_their_alternative_pronunciations():
    prons = engine.pronunciations(["the", "map", "u.s", "well-being"])
    assert ("DH", "AH") in prons[0] and ("DH", "IY") in prons[0] and len(set(prons[0])) == len(prons[0])
    assert prons[1] == [("M", "AE", "P")] and prons[2] == [("Y", "UW", "EH", "S")]
    assert prons[3][0][:3] == ("W", "EH", "L")


@needs_espeak
def test_out_of_vocabulary_word_is_pronounced_by_espeak():
    (zorblax,) = engine.pronunciations(["zorblax"])
    assert zorblax[0][0] == "Z" and {"B", "L", "K", "S"} <= set(zorblax[0])
    assert engine.espeak_arpabet(["zorblax", "quibbleworth"]).keys() == {"zorblax", "quibbleworth"}


# --------------------------------------------------------------------------- alignment and recognition


def test_align_finds_every_phone_and_the_lip_closures(sentence):
    duration = len(sentence) / RATE
    phones = align(sentence, SENTENCE)
    check_timeline(phones, duration)
    spoken = [label for label in phones.labels if label != "SIL"]
    assert len(spoken) == SENTENCE_PHONES
    assert spoken[:3] == ["B", "AA", "B"] and spoken[-3:] == ["P", "AH", "B"]
    closures = bilabial_intervals(phones)
    assert len(closures) == SENTENCE_BILABIALS
    assert phones.aligned  # known words: speak's bilabial_closure=auto trusts these P/B/M
    # Plausible times: the first closure at the speech onset, the last at its end, and
    # the lips-closed phones quieter than the open vowels.
    loud = np.flatnonzero(np.abs(sentence) > 0.05)
    assert abs(closures[0][0] - loud[0] / RATE) < 0.15
    assert abs(closures[-1][1] - loud[-1] / RATE) < 0.25

    def rms(intervals):
        parts = [sentence[int(s * RATE):int(e * RATE)] for s, e in intervals]
        return float(np.sqrt(np.mean(np.concatenate(parts) ** 2)))

    vowels = [(s, e) for s, e, label in zip(phones.start_s, phones.end_s, phones.labels, strict=True)
              if label in ("AA", "AE", "AY")]
    assert rms(closures) < 0.7 * rms(vowels)


def test_recognize_gives_a_speech_like_phone_rate(sentence):
    phones = recognize(sentence, jobs=2)  # under 10 s: one piece, in this process
    check_timeline(phones, len(sentence) / RATE)
    assert not phones.aligned  # recognized: bilabial_closure=auto leaves these P/B/M alone
    assert 6 < phones.rate() < 25
    assert 10 <= sum(label != "SIL" for label in phones.labels) <= 35
    allphone = recognize(sentence, mode="allphone")
    check_timeline(allphone, len(sentence) / RATE)
    assert allphone.rate() > 3
    with pytest.raises(LipsyncError, match="mode"):
        recognize(sentence, mode="graphemes")


@needs_espeak
def test_out_of_vocabulary_word_is_aligned(tmp_path_factory):
    audio = speak(tmp_path_factory, "Zorblax is here", "oov")
    phones = align(audio, "Zorblax is here")
    spoken = [label for label in phones.labels if label != "SIL"]
    (zorblax,) = engine.pronunciations(["zorblax"])[0]
    assert spoken[: len(zorblax)] == list(zorblax)
    assert len(spoken) == len(zorblax) + 2 + 3  # is: IH Z; here: HH IY R


def test_text_that_does_not_match_or_misses_words_falls_back_to_recognition(sentence, capsys):
    phones = align(sentence, "the quick brown fox jumps over the lazy dog and then some more words")
    assert "recognizing phones instead" in capsys.readouterr().err
    check_timeline(phones, len(sentence) / RATE)
    assert phones.rate() > 5
    # a text that misses words aligns, but leaves speech in silence: recognized instead
    phones = align(sentence, "Bob bought a map")
    assert "the text seems to miss words" in capsys.readouterr().err
    assert sum(label != "SIL" for label in phones.labels) > 12
    phones_for(sentence, "   ")  # blank text: recognition, no note needed
    assert "note" not in capsys.readouterr().err


def test_silent_and_empty_audio_give_only_silence():
    silent = np.zeros(RATE, np.float32)
    for phones in (recognize(silent), align(silent, SENTENCE), recognize(silent + 1e-4, mode="allphone")):
        assert phones.labels == ["SIL"] and phones.end_s[0] == 1.0
    for phones in (recognize(np.zeros(0, np.float32)), align(np.zeros(0, np.float32), "hello")):
        assert len(phones) == 0
    with pytest.raises(LipsyncError, match="mono"):
        recognize(np.zeros((2, RATE), np.float32))


def test_split_points_fall_in_pauses():
    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal(30 * RATE)).astype(np.float32)
    audio[int(9.0 * RATE):int(9.4 * RATE)] = 0  # pauses near the thirds
    audio[int(21.5 * RATE):int(21.9 * RATE)] = 0
    cuts = split_points(audio, 3)
    assert cuts[0] == 0 and cuts[-1] == len(audio) and len(cuts) == 4
    assert 9.0 <= cuts[1] / RATE <= 9.4 and 21.5 <= cuts[2] / RATE <= 21.9


def test_worker_processes_give_the_same_phones_as_one_process(sentence, monkeypatch):
    """The parallel path, shrunk: the 2 s sentence cut in two pieces, decoded by 2 workers."""
    import landmarks.phones as module

    monkeypatch.setattr(module, "PARALLEL_MIN_S", 1.0)
    monkeypatch.setattr(module, "MIN_PIECE_S", 0.5)
    two = recognize(sentence, jobs=2)
    check_timeline(two, len(sentence) / RATE)
    assert 6 < two.rate() < 25
    # the same pieces decoded here, one after the other: decoding is deterministic wherever it runs
    cuts = split_points(sentence, 2)
    here = [(label, s + a / RATE, e + a / RATE) for a, b in zip(cuts[:-1], cuts[1:], strict=True)
            for label, s, e in engine.recognize_piece(sentence[a:b])]
    one = module._assemble(here, len(sentence) / RATE)
    assert two.labels == one.labels
    np.testing.assert_allclose(two.start_s, one.start_s)


# --------------------------------------------------------------------------- real speech


@pytest.mark.footage
@pytest.mark.slow
def test_real_speech_gives_about_ten_phones_per_second(shared_clip):
    audio = load_audio(shared_clip("obama_clip2.wav"))[: 20 * RATE]
    phones = recognize(audio, jobs=2)
    check_timeline(phones, 20.0)
    spoken = sum(label != "SIL" for label in phones.labels)
    assert 8 <= spoken / 20.0 <= 14  # phones per second of audio

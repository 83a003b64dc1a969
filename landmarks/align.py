"""PocketSphinx plumbing behind :mod:`landmarks.phones`: decoders, pronunciations, phone alignment.

Everything here works on one piece of 16 kHz mono audio in one process and
returns timed phones as ``(label, start_s, end_s)`` tuples relative to the
piece's first sample; :mod:`landmarks.phones` splits long audio, runs pieces in
worker processes and assembles :class:`landmarks.phones.Phones`.

How phone times are obtained (measured on the real clips and espeak-ng speech;
see the tests and ``benchmarks/bench_phones.py``):

1. **Words pass.** Without a transcript, the bundled trigram LM decodes words
   (``mode="words"``) with a narrower search than the defaults (no second
   "fwdflat" pass, ``maxhmmpf=3000``, ``pl_window=10``): 2-3x less CPU on the
   real clips. The visemes after step 2 agree with a decode at default settings
   on 92-95 % of 10 ms frames (98-99 % when the fwdflat pass is kept, at 1.7x
   the CPU), and the settings do not make recognition worse: on 11 espeak-ng
   recordings, recognized visemes agree with those of the forced alignment of
   the true text on 66 % of frames at default settings, 67 % with fwdflat, 69 %
   with these (recognition errors, not the search, dominate). With a
   transcript, ``set_align_text`` aligns its words (alternative pronunciations
   and pauses allowed). Either gives words, the pronunciation variant of each,
   and where the pauses are.
2. **Phone pass**: one FSG pass over a linear chain of one-phone "words"
   (``ph_aa`` -> ``AA``): SIL, the words' phones, SIL at each pause of step 1,
   SIL. Its segmentation is the phone alignment. Should it fail, PocketSphinx's
   sub-word aligner (``set_alignment``) is tried, and last each word's phones
   are spread evenly over the word. (The sub-word aligner alone failed on most
   espeak-ng sentences, "Failed to stop utterance processing"; the chain with
   optional silences between words failed on fast speech; the linear chain
   failed on 1 of 9 test sentences.)
3. **Audio conditioning**: 0.3 s of quiet is added at both ends and a fixed,
   seeded noise floor of -70 dBFS is mixed in, and the decoder's noise
   statistics are reset before each pass, so that the same audio always gives
   the same phones. Digital silence (exact zeros, as TTS engines write)
   otherwise drags the batch cepstral mean so far that the recognizer hears
   speech as silence and alignment of a known sentence fails.

``mode="allphone"`` decodes phones directly with the phone bigram LM
(``en-us-phone.lm.bin``): ~5x faster than words, but fewer and less reliable phones.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import unicodedata
import warnings

import numpy as np

RATE = 16_000  # Hz: the acoustic model's sample rate
FRAME_RATE = 100  # PocketSphinx frames per second
PAD_S = 0.3  # quiet added at both ends before decoding (seconds)
NOISE_FLOOR = 3e-4  # std of the added noise, full scale 1 (-70 dBFS)
SILENT_RMS = 1e-3  # audio whose loudest 100 ms is quieter than this (-60 dBFS) is not decoded
MAX_PHONE_S = 0.75  # an aligned phone longer than this means the text misses words
LOUD_SILENCE_S = 0.3  # as does this much speech-loud audio inside aligned silence

# The 39 CMU/ARPAbet phones of the model (no stress digits).
ARPABET: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH",
    "UH", "UW", "V", "W", "Y", "Z", "ZH",
)
SIL = "SIL"
_PHONE_WORD = "ph_"  # prefix of the one-phone dictionary words used for alignment
_SIL_WORD = "ph_sil"

# Decoder settings. "words": tuned for speed (see module docstring); "allphone":
# the phone-loop settings recommended for phone recognition (lw 2, narrow beams).
_WORDS_CONFIG = dict(fwdflat=False, bestpath=True, maxhmmpf=3000, pl_window=10)
_ALLPHONE_CONFIG = dict(lw=2.0, beam=1e-20, pbeam=1e-20)

Timed = list[tuple[str, float, float]]  # (label, start_s, end_s)

_decoders: dict[str, object] = {}
_lock = threading.RLock()  # the cached decoders are not thread-safe
stats = {"chain": 0, "state": 0, "spread": 0}  # how phone_pass got its times, in this process


def _new_decoder(kind: str):
    from pocketsphinx import Decoder, get_model_path

    quiet = dict(loglevel="FATAL", logfn=os.devnull)
    if kind == "words":
        return Decoder(**quiet, **_WORDS_CONFIG)
    if kind == "allphone":
        return Decoder(**quiet, allphone=get_model_path("en-us/en-us-phone.lm.bin"), **_ALLPHONE_CONFIG)
    if kind == "text":
        return Decoder(**quiet, lm=None)
    if kind == "chain":
        decoder = Decoder(**quiet, lm=None, fsgusefiller=False)
        for phone in ARPABET:
            decoder.add_word(_PHONE_WORD + phone.lower(), phone, update=False)
        decoder.add_word(_SIL_WORD, SIL, update=True)
        return decoder
    raise ValueError(f"unknown decoder kind {kind!r}")


def decoder(kind: str):
    """This process's cached PocketSphinx decoder: ``"words"`` (LM), ``"allphone"``, ``"text"``
    (alignment of words) or ``"chain"`` (alignment of phone-words).

    Built once per process (loading the LM takes ~0.5 s); callers hold :data:`_lock` while using it.
    """
    if kind not in _decoders:
        _decoders[kind] = _new_decoder(kind)
    return _decoders[kind]


def to_pcm(audio: np.ndarray) -> bytes:
    """(N,) float audio in [-1, 1] -> int16 little-endian bytes, padded by PAD_S and with the noise floor."""
    pad = np.zeros(int(PAD_S * RATE), np.float32)
    x = np.concatenate([pad, np.nan_to_num(np.asarray(audio, np.float32)), pad])
    x = x + np.random.default_rng(0).normal(0.0, NOISE_FLOOR, x.shape).astype(np.float32)
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def is_silent(audio: np.ndarray) -> bool:
    """True when no 100 ms of ``audio`` is louder than SILENT_RMS (or it is shorter than 100 ms)."""
    n = len(audio) // 1600
    if n == 0:
        return True
    blocks = np.asarray(audio[: n * 1600], np.float64).reshape(n, 1600)
    return float(np.sqrt((blocks**2).mean(axis=1)).max()) < SILENT_RMS


def _run(dec, pcm: bytes) -> None:
    with warnings.catch_warnings():  # "deprecated and unnecessary", but without it the noise
        warnings.simplefilter("ignore", DeprecationWarning)  # statistics of the previous
        dec.start_stream()  # utterance change this one's phones (measured)
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()


def _segments(dec) -> list[tuple[str, int, int]]:
    """(word, first frame, end frame exclusive) of the current hypothesis, in padded frames."""
    return [(s.word, s.start_frame, s.end_frame + 1) for s in (dec.seg() or [])]


def _to_timed(segs: list[tuple[str, int, int]], duration_s: float) -> Timed:
    """Padded-frame segments -> (label, start_s, end_s) clipped to [0, duration_s], pad removed."""
    out: Timed = []
    for label, f0, f1 in segs:
        start = min(max(f0 / FRAME_RATE - PAD_S, 0.0), duration_s)
        end = min(max(f1 / FRAME_RATE - PAD_S, 0.0), duration_s)
        if end > start:
            out.append((label, start, end))
    return out


# --------------------------------------------------------------------------- phone pass


def _is_filler(word: str) -> bool:
    return word.startswith(("<", "[", "+"))


def phone_pass(dec, pcm: bytes, duration_s: float) -> Timed:
    """Phone times for the words ``dec`` just found (its word segmentation) in the same audio.

    Tries, in order: (1) a linear phone-chain FSG, one pass on the "chain" decoder;
    (2) PocketSphinx's sub-word aligner (``set_alignment`` on ``dec``); (3) each
    word's phones spread evenly over the word's frames. The one that worked is
    recorded in ``stats`` (counts per method, for the benchmark). Returns [] when
    ``dec`` found no words. The caller holds the lock.
    """
    segs = _segments(dec)
    words = [(w, a, b, (dec.lookup_word(w) or "").split()) for w, a, b in segs if not _is_filler(w)]
    words = [w for w in words if w[3]]
    if not words:
        return []
    seq = [SIL]  # the chain: SIL, the words' phones, SIL where the words pass saw a pause, SIL
    for w, a, b in segs:
        if not _is_filler(w):
            seq += (dec.lookup_word(w) or "").split()
        elif b - a >= 3 and seq[-1] != SIL:
            seq.append(SIL)
    if seq[-1] != SIL:
        seq.append(SIL)
    chain = decoder("chain")
    transitions = [(i, i + 1, 1.0, _PHONE_WORD + p.lower()) for i, p in enumerate(seq)]
    chain.add_fsg("chain", chain.create_fsg("chain", 0, len(seq), transitions))
    chain.activate_search("chain")
    try:
        _run(chain, pcm)
        found = [(w[len(_PHONE_WORD):].upper(), a, b) for w, a, b in _segments(chain) if w.startswith(_PHONE_WORD)]
    except RuntimeError:
        found = []
    if [f[0] for f in found] == seq:
        stats["chain"] += 1
        return _to_timed(found, duration_s)
    try:
        dec.set_alignment()
        _run(dec, pcm)
        stats["state"] += 1
        return _to_timed([(p.name, p.start, p.start + p.duration) for p in dec.get_alignment().phones()],
                         duration_s)
    except RuntimeError:
        pass
    stats["spread"] += 1
    spread = []
    for _, a, b, phones in words:
        edges = np.linspace(a, b, len(phones) + 1)
        spread += [(ph, edges[k], edges[k + 1]) for k, ph in enumerate(phones)]
    return _to_timed(spread, duration_s)


def recognize_piece(audio: np.ndarray, mode: str = "words") -> Timed:
    """Timed phones of one piece of (N,) float32 16 kHz audio, no transcript; SIL-only when silent.

    Module-level so that worker processes can run it.
    """
    duration_s = len(audio) / RATE
    if is_silent(audio):
        return [(SIL, 0.0, duration_s)] if duration_s > 0 else []
    pcm = to_pcm(audio)
    with _lock:
        dec = decoder(mode)
        _run(dec, pcm)
        if mode == "allphone":
            return _to_timed([(w if w in ARPABET else SIL, a, b) for w, a, b in _segments(dec)], duration_s)
        timed = phone_pass(dec, pcm, duration_s)
        dec.activate_search()  # back to the language model after set_alignment
    return timed or [(SIL, 0.0, duration_s)]


def align_words(audio: np.ndarray, words: list[str], prons: list[list[tuple[str, ...]]]) -> Timed | None:
    """Phones of known ``words`` (with their pronunciations) aligned to (N,) audio; None if they do not fit."""
    duration_s = len(audio) / RATE
    pcm = to_pcm(audio)
    with _lock:
        dec = decoder("text")
        for word, alts in zip(words, prons, strict=True):
            if not dec.lookup_word(word):
                dec.add_word(word, " ".join(alts[0]), update=True)
        try:
            dec.set_align_text(" ".join(words))
            _run(dec, pcm)
        except RuntimeError:
            return None
        hyp = dec.hyp()
        if hyp is None or hyp.hypstr.split() != words:  # no path, or the search stopped short
            return None
        return phone_pass(dec, pcm, duration_s) or None


def implausible(audio: np.ndarray, timed: Timed) -> str | None:
    """Why an alignment of known words looks wrong (words missing from the text), or None.

    ``timed`` covers the whole audio (gaps between phones are SIL).
    A forced alignment always "succeeds" when words are missing from the text: the
    speech they cover ends up in silence or in a stretched phone. Measured on
    espeak-ng sentences and the real clips (recognized words as the text, then a
    quarter or a third of them removed): correct texts left at most 0.1 s of loud
    silence and no phone over 0.53 s; texts with words missing left 0.3-7 s of
    loud silence or a phone of 0.8-1.4 s (one of 12 passed with 0.64 s).
    """
    power = np.concatenate([[0.0], np.cumsum(np.asarray(audio, np.float64) ** 2)])

    def rms(start: float, end: float) -> float:
        a, b = int(start * RATE), max(int(end * RATE), int(start * RATE) + 1)
        return float(np.sqrt((power[min(b, len(audio))] - power[min(a, len(audio))]) / (b - a)))

    speech = [(s, e) for label, s, e in timed if label != SIL]
    if not speech:
        return None
    longest = max(e - s for s, e in speech)
    if longest > MAX_PHONE_S:
        return f"a phone lasts {longest:.1f} s"
    level = 0.5 * float(np.median([rms(s, e) for s, e in speech]))
    loud = sum(0.1 for label, s, e in timed if label == SIL
               for t in np.arange(s + 0.05, e - 0.15, 0.1) if rms(t, t + 0.1) > level)
    if loud >= LOUD_SILENCE_S:
        return f"{loud:.1f} s of speech outside the words"
    return None


# --------------------------------------------------------------------------- pronunciations

_WORD_RE = re.compile(r"[a-z0-9]+(?:['.\-][a-z0-9]+)*")


def words_of(text: str) -> list[str]:
    """Lower-case word tokens of a script: letters, digits, inner apostrophes, dots, hyphens."""
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'").lower()
    return _WORD_RE.findall(text)


def pronunciations(words: list[str]) -> list[list[tuple[str, ...]]]:
    """Per word, its alternative ARPAbet pronunciations: cmudict, else espeak-ng, else spelling rules."""
    with _lock:
        dec = decoder("text")
        found = [_cmudict(dec, w) for w in words]
        missing = sorted({w for w, alts in zip(words, found, strict=True) if not alts})
        guessed = espeak_arpabet(missing)
        out = []
        for w, alts in zip(words, found, strict=True):
            if not alts:
                alts = [guessed.get(w) or _spelled(dec, w)]
            out.append([a for a in alts if a])
    return out


def _spelled(dec, word: str) -> tuple[str, ...]:
    """Digits read one by one and letter runs from cmudict or spelling rules."""
    parts = [_DIGITS[int(p)] if p.isdigit() else p for p in re.findall(r"[a-z]+|[0-9]", word)]
    return tuple(ph for part in parts for ph in ((_cmudict(dec, part) or [()])[0] or letters_to_phones(part)))


def _cmudict(dec, word: str) -> list[tuple[str, ...]]:
    forms = (word + ".", word, word.replace(".", "")) if "." in word else (word,)  # "u.s" -> "u.s."
    for form in forms:
        alts, k = [], 1
        while True:
            p = dec.lookup_word(form if k == 1 else f"{form}({k})")
            if not p:
                break
            if tuple(p.split()) not in alts:
                alts.append(tuple(p.split()))
            k += 1
        if alts:
            return alts
    if "-" in word:  # a hyphenated compound: its parts, one pronunciation each
        parts = [_cmudict(dec, part) for part in word.split("-") if part]
        if parts and all(parts):
            return [tuple(ph for alts in parts for ph in alts[0])]
    return []


# IPA (as espeak-ng writes it, stress and length marks removed) -> ARPAbet; longest match first.
_IPA: dict[str, tuple[str, ...]] = {
    "aɪ": ("AY",), "aʊ": ("AW",), "eɪ": ("EY",), "oʊ": ("OW",), "əʊ": ("OW",), "ɔɪ": ("OY",),
    "tʃ": ("CH",), "dʒ": ("JH",), "oɹ": ("AO", "R"), "ɔɹ": ("AO", "R"), "ɜɹ": ("ER",),
    "ɑ": ("AA",), "ɒ": ("AA",), "a": ("AA",), "æ": ("AE",), "ʌ": ("AH",), "ɐ": ("AH",), "ə": ("AH",),
    "ɔ": ("AO",), "ɛ": ("EH",), "e": ("EY",), "ɜ": ("ER",), "ɚ": ("ER",), "ɝ": ("ER",),
    "ɪ": ("IH",), "ᵻ": ("IH",), "ɨ": ("IH",), "i": ("IY",), "o": ("OW",), "ʊ": ("UH",),
    "u": ("UW",), "ʉ": ("UW",), "ɯ": ("UW",), "y": ("UW",), "ø": ("ER",), "œ": ("ER",),
    "b": ("B",), "β": ("B",), "d": ("D",), "ð": ("DH",), "f": ("F",), "ɸ": ("F",), "g": ("G",),
    "ɡ": ("G",), "ɣ": ("G",), "h": ("HH",), "ç": ("HH",), "k": ("K",), "x": ("K",), "q": ("K",),
    "l": ("L",), "ɫ": ("L",), "ɬ": ("L",), "ʎ": ("L",), "m": ("M",), "ɱ": ("M",), "n": ("N",),
    "ɲ": ("N",), "ŋ": ("NG",), "p": ("P",), "ɹ": ("R",), "r": ("R",), "ɾ": ("T",), "ɻ": ("R",),
    "ʁ": ("R",), "ʀ": ("R",), "s": ("S",), "ʃ": ("SH",), "t": ("T",), "ʔ": ("T",), "θ": ("TH",),
    "v": ("V",), "w": ("W",), "ʍ": ("W",), "j": ("Y",), "z": ("Z",), "ʒ": ("ZH",),
}
_IPA_MAX = max(len(k) for k in _IPA)


def ipa_to_arpabet(ipa: str) -> tuple[str, ...]:
    """ARPAbet phones of an IPA string; marks (stress, length, diacritics) and unknown symbols dropped."""
    s = "".join(c for c in unicodedata.normalize("NFD", ipa)
                if not unicodedata.combining(c) and c not in "ˈˌːˑ‿͡-_|'")
    s = "".join(s.split())
    out: list[str] = []
    i = 0
    while i < len(s):
        for n in range(min(_IPA_MAX, len(s) - i), 0, -1):
            if s[i:i + n] in _IPA:
                out += _IPA[s[i:i + n]]
                i += n
                break
        else:
            i += 1
    return tuple(out)


def espeak_arpabet(words: list[str]) -> dict[str, tuple[str, ...]]:
    """ARPAbet pronunciations of ``words`` from ``espeak-ng -v en-us -q --ipa``; {} without espeak-ng."""
    exe = shutil.which("espeak-ng")
    if not exe or not words:
        return {}

    def ipa(text: str) -> list[str]:
        try:
            done = subprocess.run([exe, "-v", "en-us", "-q", "--ipa"], input=text, capture_output=True,
                                  text=True, timeout=30, check=True)
        except (OSError, subprocess.SubprocessError):
            return []
        return [line.strip() for line in done.stdout.splitlines() if line.strip()]

    lines = ipa("\n".join(words) + "\n")  # one output line per input line
    if len(lines) != len(words):
        lines = [" ".join(ipa(w)) for w in words]
    return {w: p for w, line in zip(words, lines, strict=True) if (p := ipa_to_arpabet(line))}


_LETTERS = [  # spelling -> phones, longest first; the last-resort guess when espeak-ng is missing
    ("tch", "CH"), ("sch", "S K"), ("ch", "CH"), ("sh", "SH"), ("th", "TH"), ("ph", "F"), ("wh", "W"),
    ("ck", "K"), ("ng", "NG"), ("qu", "K W"), ("gh", "G"), ("ee", "IY"), ("ea", "IY"), ("oo", "UW"),
    ("ou", "AW"), ("ow", "OW"), ("ai", "EY"), ("ay", "EY"), ("oa", "OW"), ("oi", "OY"), ("oy", "OY"),
    ("au", "AO"), ("aw", "AO"), ("er", "ER"), ("ir", "ER"), ("ur", "ER"), ("ar", "AA R"), ("or", "AO R"),
    ("a", "AE"), ("b", "B"), ("c", "K"), ("d", "D"), ("e", "EH"), ("f", "F"), ("g", "G"), ("h", "HH"),
    ("i", "IH"), ("j", "JH"), ("k", "K"), ("l", "L"), ("m", "M"), ("n", "N"), ("o", "AA"), ("p", "P"),
    ("q", "K"), ("r", "R"), ("s", "S"), ("t", "T"), ("u", "AH"), ("v", "V"), ("w", "W"), ("x", "K S"),
    ("y", "IY"), ("z", "Z"),
]
_DIGITS = "zero one two three four five six seven eight nine".split()


def letters_to_phones(word: str) -> tuple[str, ...]:
    """A rough ARPAbet guess from spelling; () for a word with no letters."""
    w = re.sub(r"[^a-z]", "", word.lower())
    w = re.sub(r"([b-df-hj-np-tv-z])\1", r"\1", w)  # double consonants sound once
    w = re.sub(r"(?<=[a-z]{2}[b-df-hj-np-tv-z])e\b", "", w)  # silent final e
    out: list[str] = []
    i = 0
    while i < len(w):
        for spelling, phones in _LETTERS:
            if w.startswith(spelling, i):
                out += phones.split()
                i += len(spelling)
                break
        else:
            i += 1
    return tuple(out)


# --------------------------------------------------------------------------- worker process


def serve(stdin=None, stdout=None) -> None:
    """Worker loop (``python -m landmarks.align``): decode pieces until stdin closes.

    Request: a line ``<mode> <n samples>\n`` then n float32 samples (little-endian).
    Reply: a line ``<n bytes>\n`` then that many bytes of JSON ``[[label, start_s, end_s], ...]``.
    """
    stdin, stdout = stdin or sys.stdin.buffer, stdout or sys.stdout.buffer
    while header := stdin.readline():
        mode, n = header.decode().split()
        audio = np.frombuffer(stdin.read(4 * int(n)), "<f4")
        reply = json.dumps(recognize_piece(audio, mode)).encode()
        stdout.write(b"%d\n" % len(reply) + reply)
        stdout.flush()


if __name__ == "__main__":
    serve()

"""Timed phones of speech: recognized (no transcript) or force-aligned (known words).

Phones are speaker-independent: mapped to visemes (:mod:`landmarks.visemes`)
they tell the audio-to-mouth networks what the mouth must do whoever speaks.
They come from PocketSphinx's bundled US-English model (the ``pocketsphinx``
wheel); nothing is downloaded. The decoding itself lives in
:mod:`landmarks.align`.

Speed (2 cores, see ``benchmarks/bench_phones.py``): :func:`recognize` splits
audio of 10 s or more at quiet points into pieces decoded in parallel by
``jobs`` worker processes (fresh interpreters that import only numpy and
pocketsphinx, so safe with torch imported here; they live for the rest of the
program and keep their decoders).
"""

from __future__ import annotations

import atexit
import json
import math
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from landmarks import align as _al
from landmarks.errors import LipsyncError

SIL = _al.SIL
RATE = _al.RATE
PARALLEL_MIN_S = 10.0  # shorter audio is decoded in one piece, in this process
MAX_PIECE_S = 60.0  # longer audio is cut into pieces of at most about this length
MIN_PIECE_S = 5.0  # and pieces are never shorter than this
MODES = ("words", "allphone")


@dataclass(eq=False)  # arrays inside: compare the fields, not the objects
class Phones:
    """Timed phones of one utterance.

    start_s, end_s: (n,) float64 seconds from audio sample 0; phone i covers the
    half-open interval [start_s[i], end_s[i]), sorted and non-overlapping.
    labels: list[str] of ARPAbet phones without stress digits (e.g. 'AA', 'P'),
    'SIL' for silence/noise.
    aligned: True when the phones come from alignment of known words (their P/B/M are
    where the words have them), False when they were recognized from the audio alone.
    """

    start_s: np.ndarray
    end_s: np.ndarray
    labels: list[str]
    aligned: bool = False

    def __post_init__(self) -> None:
        self.start_s = np.asarray(self.start_s, np.float64).reshape(-1)
        self.end_s = np.asarray(self.end_s, np.float64).reshape(-1)
        self.labels = [str(label) for label in self.labels]
        if not len(self.start_s) == len(self.end_s) == len(self.labels):
            raise LipsyncError(f"phones: {len(self.start_s)} starts, {len(self.end_s)} ends and "
                               f"{len(self.labels)} labels; they must be equal in number")

    def __len__(self) -> int:
        return len(self.labels)

    def save(self, path: str | Path) -> None:
        """Write ``path`` as an .npz of plain arrays (labels fixed-width unicode), exactly at ``path``."""
        labels = np.array(self.labels, dtype=f"<U{max([3, *map(len, self.labels)])}")
        with open(path, "wb") as f:
            np.savez(f, start_s=self.start_s, end_s=self.end_s, labels=labels, aligned=np.array(self.aligned))

    @classmethod
    def load(cls, path: str | Path) -> Phones:
        """Read what :meth:`save` wrote (no pickles)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                aligned = bool(z["aligned"]) if "aligned" in z.files else False  # files from before the flag
                return cls(z["start_s"], z["end_s"], z["labels"].tolist(), aligned)
        except FileNotFoundError as err:
            raise LipsyncError(f"phones file not found: {path}") from err
        except (KeyError, ValueError, OSError) as err:
            raise LipsyncError(f"not a phones file: {path} ({err})") from err

    def shifted(self, seconds: float) -> Phones:
        """The same phones with all times + ``seconds``."""
        return Phones(self.start_s + seconds, self.end_s + seconds, list(self.labels), self.aligned)

    def scaled(self, factor: float) -> Phones:
        """All times * ``factor`` (audio sped up by 1/factor: new_time = old_time * factor)."""
        if not factor > 0:
            raise LipsyncError(f"time scale factor must be positive, got {factor}")
        return Phones(self.start_s * factor, self.end_s * factor, list(self.labels), self.aligned)

    def rate(self) -> float:
        """Non-silence phones per second of speech (the summed duration of those phones); 0 if none."""
        speech = np.array([label != SIL for label in self.labels], bool)
        seconds = float((self.end_s - self.start_s)[speech].sum()) if speech.any() else 0.0
        return int(speech.sum()) / seconds if seconds > 0 else 0.0


def _assemble(timed: _al.Timed, duration_s: float) -> Phones:
    """(label, start, end) tuples -> contiguous Phones over [0, duration_s]; gaps and noise become SIL."""
    speech = sorted((s, e, lab) for lab, s, e in timed if lab != SIL)
    out: list[tuple[float, float, str]] = []
    t = 0.0
    for s, e, lab in speech:
        s, e = max(s, t), min(e, duration_s)
        if e <= s:
            continue
        if s > t:
            out.append((t, s, SIL))
        out.append((s, e, lab))
        t = e
    if duration_s > t:
        out.append((t, duration_s, SIL))
    return Phones(np.array([o[0] for o in out]), np.array([o[1] for o in out]), [o[2] for o in out])


def _check_audio(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, np.float32)
    if audio.ndim != 1:
        raise LipsyncError(f"expected (N,) mono 16 kHz audio, got an array of shape {audio.shape}")
    return audio


def split_points(audio: np.ndarray, n: int, search_s: float = 3.0) -> list[int]:
    """Sample indices (n+1, from 0 to N) that cut ``audio`` into n pieces at quiet points.

    Each cut is the quietest 10 ms (energy smoothed over 200 ms) within +-``search_s``
    of the equal split, so that words are not cut.
    """
    hop = RATE // 100
    m = len(audio) // hop
    energy = (np.asarray(audio[: m * hop], np.float64).reshape(m, hop) ** 2).mean(axis=1)
    energy = np.convolve(energy, np.ones(20) / 20, mode="same")
    cuts = [0]
    for k in range(1, n):
        centre = k * m // n
        lo = max(centre - int(search_s * 100), cuts[-1] // hop + 100)
        hi = min(centre + int(search_s * 100), m - 100)
        frame = lo + int(np.argmin(energy[lo:hi])) if hi > lo else centre
        cuts.append(min(max(frame * hop, cuts[-1]), len(audio)))
    cuts.append(len(audio))
    return cuts


class _Worker:
    """A ``python -m landmarks.align`` process that decodes pieces sent through its stdin.

    Plain subprocesses, not ``multiprocessing``: a "spawn" or "forkserver" child
    re-runs the parent's main script (an unguarded script crashes; a guarded one
    pays its imports, torch included, again), while this one imports only numpy
    and pocketsphinx. Workers live until the program exits and keep their decoders.
    """

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen([sys.executable, "-m", "landmarks.align"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def decode(self, audio: np.ndarray, mode: str) -> _al.Timed:
        samples = np.ascontiguousarray(audio, "<f4")
        self.proc.stdin.write(f"{mode} {len(samples)}\n".encode() + samples.tobytes())
        self.proc.stdin.flush()
        header = self.proc.stdout.readline()
        if not header:
            raise OSError("phone recognition worker exited")
        return [tuple(item) for item in json.loads(self.proc.stdout.read(int(header)))]

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


_workers: list[_Worker] = []
_workers_lock = threading.Lock()


def _decode_in_workers(pieces: list[np.ndarray], mode: str, jobs: int) -> list[_al.Timed]:
    """Decode ``pieces`` in ``jobs`` worker processes (started on first use), in order."""
    with _workers_lock:
        _workers[:] = [w for w in _workers if w.alive()]
        while len(_workers) < jobs:
            _workers.append(_Worker())
        workers = _workers[:jobs]

        def run(k: int) -> list[tuple[int, _al.Timed]]:
            return [(i, workers[k].decode(pieces[i], mode)) for i in range(k, len(pieces), jobs)]

        with ThreadPoolExecutor(jobs) as threads:
            done = dict(item for part in threads.map(run, range(jobs)) for item in part)
    return [done[i] for i in range(len(pieces))]


@atexit.register
def shutdown_workers() -> None:
    """Stop the worker processes (they are also stopped at exit)."""
    with _workers_lock:
        while _workers:
            _workers.pop().close()


def recognize(audio: np.ndarray, jobs: int = 2, mode: str = "words") -> Phones:
    """(N,) float32 mono 16 kHz in [-1, 1] -> timed phones, no transcript.

    mode="words": word decoding with the bundled language model, then alignment
    of the recognized words' phones (~10 phones/s on real speech). mode="allphone":
    phone-loop decoding with en-us-phone.lm.bin (~5x faster, fewer and less
    reliable phones: ~8/s). Audio of 10 s or more is cut at quiet points into
    max(jobs, duration / 60 s) pieces (none under 5 s) decoded by ``jobs`` worker
    processes (jobs=1: one after the other in this process).
    Silent audio gives a single SIL; empty audio gives no phones.
    """
    audio = _check_audio(audio)
    if mode not in MODES:
        raise LipsyncError(f"unknown phone recognition mode {mode!r}; use one of {', '.join(MODES)}")
    if jobs < 1:
        raise LipsyncError(f"jobs must be at least 1, got {jobs}")
    duration_s = len(audio) / RATE
    if duration_s < PARALLEL_MIN_S:
        return _assemble(_al.recognize_piece(audio, mode), duration_s)
    n = min(max(jobs, math.ceil(duration_s / MAX_PIECE_S)), int(duration_s // MIN_PIECE_S))
    cuts = split_points(audio, n)
    pieces = [audio[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    results = None
    if jobs > 1:
        try:
            results = _decode_in_workers(pieces, mode, jobs)
        except (OSError, ValueError) as err:  # a worker died (killed, out of memory): carry on here
            print(f"note: phone recognition worker failed ({err}); decoding in this process", file=sys.stderr)
    if results is None:
        results = [_al.recognize_piece(p, mode) for p in pieces]
    timed = [(lab, s + a / RATE, e + a / RATE) for a, res in zip(cuts[:-1], results, strict=True) for lab, s, e in res]
    return _assemble(timed, duration_s)


def align(audio: np.ndarray, text: str, jobs: int = 1) -> Phones:
    """Forced alignment of known words (a script, or the text given to the TTS) to the audio.

    Words missing from cmudict are pronounced by espeak-ng (IPA mapped to ARPAbet)
    or, without espeak-ng, guessed from their spelling. When the words cannot be
    aligned (no words, a text that does not match the audio, or one that misses
    words: see :func:`landmarks.align.implausible`) a note is printed and the
    phones are recognized instead (:func:`recognize` with ``jobs``).
    """
    audio = _check_audio(audio)
    duration_s = len(audio) / RATE
    if _al.is_silent(audio):
        return _assemble([], duration_s)
    words = _al.words_of(text)
    kept = [(w, p) for w, p in zip(words, _al.pronunciations(words), strict=True) if p]
    words, prons = [w for w, _ in kept], [p for _, p in kept]
    timed = _al.align_words(audio, words, prons) if words else None
    reason = "no words in the text" if not words else "the text does not match the audio"
    phones = _assemble(timed, duration_s) if timed is not None else None
    if phones is not None:
        why = _al.implausible(audio, list(zip(phones.labels, phones.start_s, phones.end_s, strict=True)))
        if why:
            phones, reason = None, f"the text seems to miss words: {why}"
    if phones is None:
        print(f"note: phone alignment failed ({reason}); recognizing phones instead", file=sys.stderr)
        return recognize(audio, jobs=jobs)
    phones.aligned = True
    return phones


def phones_for(audio: np.ndarray, text: str | None = None, jobs: int = 2) -> Phones:
    """:func:`align` when ``text`` is given (and not blank), else :func:`recognize`."""
    if text is not None and text.strip():
        return align(audio, text, jobs=jobs)
    return recognize(audio, jobs=jobs)

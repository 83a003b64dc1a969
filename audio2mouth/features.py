"""Audio features at 100 Hz from 16 kHz mono audio, and their per-speaker normalization.

``mfcc`` (as in Suwajanakorn et al. 2017): 13 MFCC + log energy and the
first differences of all 14, i.e. 28 values per step. ``logmel``: ``n_mels``
log-mel band energies and their first differences (2 * n_mels values).
``visemes``: the one-hot viseme class of the phone sounding at each step
(``landmarks.visemes``), from timed phones (recognized, or aligned to known
words); it means the same for every voice. ``mfcc_visemes``: both, MFCC first,
the viseme block always last (the ``visemes`` model reads only that block).

``utterance_norm`` standardizes the acoustic block over the utterance itself
(cepstral mean and variance normalization over its voiced steps), which takes
out the microphone, the room and much of the voice before the per-speaker
normalization; it is applied identically in training and at speak time.

Step j is centred on time ``j / rate_hz`` seconds (audio sample 0 is t = 0), so
feature times never drift from video timestamps. Energies are floored at
``floor_db`` dBFS: digital silence and quiet room noise give the same constant
features, which keeps silence inside the range the network saw in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft

from landmarks.errors import LipsyncError
from landmarks.media import AUDIO_RATE

KINDS = ("mfcc", "logmel", "visemes", "mfcc_visemes")


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, rate: int, fmin: float = 20.0) -> np.ndarray:
    """Triangular mel filters, (n_mels, n_fft // 2 + 1), each summing to about 1."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(rate / 2), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    fb = np.clip(np.minimum(rising, falling), 0.0, None)
    return (fb / np.maximum(fb.sum(1, keepdims=True), 1e-10)).astype(np.float32)


def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II basis (n_out, n_in), as used for cepstra."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


def first_difference(x: np.ndarray) -> np.ndarray:
    """Centred difference (x[t+1] - x[t-1]) / 2 along axis 0; centred so it adds no delay."""
    padded = np.pad(x, ((1, 1), (0, 0)), mode="edge")
    return 0.5 * (padded[2:] - padded[:-2])


@dataclass
class AudioFeatures:
    """Feature extractor. ``__call__`` maps (N,) float32 audio at 16 kHz (+ its timed phones) to (T', d)."""

    kind: str = "mfcc"
    rate_hz: float = 100.0
    win_ms: float = 25.0
    n_mfcc: int = 13
    n_mels: int = 40
    n_fft: int = 512
    preemphasis: float = 0.97
    floor_db: float = -60.0
    utterance_norm: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise LipsyncError(f"unknown audio feature kind {self.kind!r} (one of {', '.join(KINDS)})")
        self.hop = int(round(AUDIO_RATE / self.rate_hz))
        self.win = int(round(AUDIO_RATE * self.win_ms / 1000.0))
        self.n_fft = max(self.n_fft, int(2 ** np.ceil(np.log2(self.win))))
        self._fb = mel_filterbank(self.n_mels, self.n_fft, AUDIO_RATE)
        self._dct = dct_matrix(self.n_mfcc, self.n_mels)
        self._window = np.hamming(self.win).astype(np.float32)

    @property
    def uses_phones(self) -> bool:
        return "visemes" in self.kind

    @property
    def n_acoustic(self) -> int:
        """Width of the acoustic block (0 for ``visemes``)."""
        if self.kind == "visemes":
            return 0
        return 2 * (self.n_mfcc + 1 if self.kind.startswith("mfcc") else self.n_mels)

    @property
    def n_visemes(self) -> int:
        """Width of the viseme block, the last columns (0 without phones)."""
        if not self.uses_phones:
            return 0
        from landmarks.visemes import VISEMES

        return len(VISEMES)

    @property
    def n_features(self) -> int:
        return self.n_acoustic + self.n_visemes

    def n_steps(self, n_samples: int) -> int:
        """Number of feature steps for ``n_samples`` of audio (one per hop, the last partial)."""
        return n_samples // self.hop + 1

    def times(self, n_steps: int) -> np.ndarray:
        """(T',) float64 seconds: the centre of each feature step."""
        return np.arange(n_steps, dtype=np.float64) * self.hop / AUDIO_RATE

    def _frames(self, audio: np.ndarray) -> np.ndarray:
        half = self.win // 2
        emph = np.append(audio[:1], audio[1:] - self.preemphasis * audio[:-1]).astype(np.float32)
        padded = np.pad(emph, (half, half + self.hop))
        n = self.n_steps(len(audio))
        # strided view (no copy) of the overlapping windows, then one multiply
        view = np.lib.stride_tricks.sliding_window_view(padded, self.win)[:: self.hop][:n]
        return view * self._window

    def __call__(self, audio: np.ndarray, phones=None, stats: tuple[np.ndarray, np.ndarray] | None = None
                 ) -> np.ndarray:
        """(N,) audio -> (T', n_features). ``phones`` (a ``landmarks.phones.Phones`` timed from sample 0)
        is needed by the viseme kinds; when missing they are recognized from the audio. ``stats``:
        per-utterance normalization statistics computed over a longer whole (:meth:`utterance_stats`),
        so chunks of one utterance are normalized alike."""
        audio = check_audio(audio)
        blocks = []
        if self.n_acoustic:
            blocks.append(self.acoustic(audio, stats))
        if self.uses_phones:
            from landmarks.phones import recognize
            from landmarks.visemes import one_hot

            phones = recognize(audio) if phones is None else phones
            blocks.append(one_hot(phones, self.times(self.n_steps(len(audio)))))
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def utterance_stats(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(mean, std) of the static acoustic features over this utterance's voiced steps, or None."""
        if not (self.utterance_norm and self.n_acoustic):
            return None
        static, log_energy = self._static(check_audio(audio))
        return utterance_statistics(static, log_energy)

    def _static(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T', c) static features and (T',) natural-log energy of checked audio."""
        frames = self._frames(audio)  # (T', win)
        spec = scipy.fft.rfft(frames, n=self.n_fft, axis=1)  # complex64: float32 in, float32 out
        power = (spec.real**2 + spec.imag**2) / self.win
        floor = 10.0 ** (self.floor_db / 10.0)
        log_mel = np.log(power @ self._fb.T + floor)  # (T', n_mels)
        log_energy = np.log((frames**2).mean(1) + floor)
        if self.kind.startswith("mfcc"):
            static = np.concatenate([log_mel @ self._dct.T, log_energy[:, None]], axis=1)
        else:
            static = log_mel
        return static, log_energy

    def acoustic(self, audio: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """(N,) checked audio -> (T', n_acoustic) MFCC or log-mel block with first differences."""
        static, log_energy = self._static(audio)
        if self.utterance_norm:
            mean, std = stats if stats is not None else utterance_statistics(static, log_energy)
            static = (static - mean) / std
        return np.concatenate([static, first_difference(static)], axis=1).astype(np.float32)


def utterance_statistics(static: np.ndarray, log_energy: np.ndarray, voiced_db: float = 30.0
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std), each (c,), of (T', c) static features over the utterance's voiced steps.

    Voiced: within ``voiced_db`` dB of the utterance's 95th-percentile energy, so the
    statistics describe speech, not how much silence the recording happens to hold.
    """
    level_db = 10 * np.log10(np.e) * log_energy
    voiced = level_db > np.percentile(level_db, 95) - voiced_db
    if voiced.sum() < 10:
        voiced = np.ones_like(voiced)
    return static[voiced].mean(0), np.maximum(static[voiced].std(0), 1e-3)


def check_audio(audio: np.ndarray) -> np.ndarray:
    """Validate a mono 16 kHz waveform: (N,) or (N, channels) -> (N,) float32 in [-1, 1].

    Stereo arrays are downmixed, clipped samples are kept (clipping is a loudness
    artefact, not an error), non-finite values and empty audio raise LipsyncError.
    """
    audio = np.asarray(audio)
    if audio.ndim == 2:
        audio = audio.mean(axis=1 if audio.shape[1] <= 8 else 0)
    if audio.ndim != 1:
        raise LipsyncError(f"audio must be (N,) or (N, channels), got shape {audio.shape}")
    if audio.size == 0:
        raise LipsyncError("the audio is empty")
    if np.issubdtype(audio.dtype, np.integer):
        audio = audio / float(np.iinfo(audio.dtype).max)
    audio = audio.astype(np.float32)
    if not np.isfinite(audio).all():
        raise LipsyncError("the audio contains NaN or infinite samples")
    return np.clip(audio, -1.0, 1.0)


MIN_STD = 1e-3  # the floor of a fitted std


@dataclass
class Normalizer:
    """Per-channel standardization ``(x - mean) / std``; mean/std are (d,) float32."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Normalizer:
        """Fit on (T, d) values (e.g. the training block only); std floored at ``MIN_STD``, the floor
        ``apply`` recognizes constant channels by."""
        x = np.asarray(x, dtype=np.float64)
        return cls(x.mean(0).astype(np.float32), np.maximum(x.std(0), MIN_STD).astype(np.float32))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Standardized ``x``; 0 in channels that were constant where the statistics were fitted
        (std at the floor). Such a channel, a viseme class absent from the train block for one, only
        ever showed the network 0, so its weights were never trained: a 1 there at speak time, scaled
        by 1 / floor, was a 1000 into them (a telephone-band recording of obama_weekly's test block,
        whose recognized phones held such a class, came out with 36 x the mean predictor's MSE)."""
        z = (x - self.mean) / self.std
        return np.where(self.std > np.float32(MIN_STD), z, 0.0).astype(np.float32)

    def invert(self, x: np.ndarray) -> np.ndarray:
        return (x * self.std + self.mean).astype(np.float32)


def save_stats(path: str | Path, **arrays: np.ndarray) -> None:
    """Write plain arrays to an .npz (readable with allow_pickle=False)."""
    np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})


def load_stats(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}

"""Training-time audio augmentation: other voices and other recording chains, without downloads.

One minute of one voice through one microphone is all a studio gives us; at
speak time the audio may be a new recording, a synthetic voice or someone
else. Each augmented copy of the training block changes the audio and, where
time changes, re-times the phones and the targets with it:

- speed perturbation (factor f, Kaldi style): the audio is resampled so it
  plays f times faster; tempo and pitch both change, a cheap stand-in for a
  different voice. A time t becomes t / f.
- gain: a constant level change in dB.
- noise: white noise at a given SNR (dB) over the speech's RMS.
- band-limit: a telephone band (300-3400 Hz) by a 4th-order Butterworth.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.signal import butter, resample_poly, sosfiltfilt

from landmarks.media import AUDIO_RATE


@dataclass(frozen=True)
class Augmentation:
    """One augmented copy: speed factor, gain in dB, SNR in dB (None: no noise), telephone band or not."""

    speed: float = 1.0
    gain_db: float = 0.0
    snr_db: float | None = None
    band_limit: bool = False

    def apply(self, audio: np.ndarray, seed: int = 0) -> np.ndarray:
        """(N,) float32 16 kHz -> (N', ) float32, N' = N / speed."""
        out = audio.astype(np.float64)
        if self.speed != 1.0:
            ratio = Fraction(self.speed).limit_denominator(50)  # resample by up/down = 1 / speed
            out = resample_poly(out, ratio.denominator, ratio.numerator)
        if self.band_limit:
            sos = butter(4, [300.0, 3400.0], btype="bandpass", fs=AUDIO_RATE, output="sos")
            out = sosfiltfilt(sos, out)
        if self.snr_db is not None:
            rms = np.sqrt(np.mean(out**2) + 1e-12)
            noise = np.random.default_rng(seed).standard_normal(len(out))
            out = out + noise * rms * 10 ** (-self.snr_db / 20)
        out *= 10 ** (self.gain_db / 20)
        return np.clip(out, -1.0, 1.0).astype(np.float32)

    @property
    def time_scale(self) -> float:
        """Multiply original times (seconds) by this to get times in the augmented audio."""
        return 1.0 / self.speed


def augmentations(cfg: dict | None) -> list[Augmentation]:
    """The copies to train on besides the original, from the ``data.augment`` config.

    ``speeds`` each give a copy (with the given gain alternating sign); ``telephone`` adds a
    band-limited noisy copy at ``snr_db``. An empty or disabled config gives no copies.
    """
    if not cfg or not cfg.get("enabled", False):
        return []
    gain = float(cfg.get("gain_db", 0.0))
    out = [Augmentation(speed=float(f), gain_db=gain * (-1) ** i) for i, f in enumerate(cfg.get("speeds", []))]
    if cfg.get("telephone", False):
        out.append(Augmentation(band_limit=True, snr_db=float(cfg.get("snr_db", 20.0))))
    return out

"""Where the mouth holds the speaker's rest shape, whatever the network says.

Two kinds of quiet audio close the mouth:

- **silence**: below ``silence_db`` dBFS (absolute), any length. Digital silence (a gap
  in synthesized speech, padding) never appears in training footage, so the network's
  answer there is a guess; the rest shape is not.
- **long pauses**: at least ``pause_min_s`` seconds below ``pause_below_peak_db`` dB under
  the utterance's loud speech (the 95th percentile of its 10 ms levels). A real
  recording's pauses sit at the room's noise level (-50 to -57 dBFS on obama_weekly,
  never below -60), and the networks, trained on pauses that are mostly short breaths
  between phrases, keep the mouth half open through them. Anchors close the mouth when
  they stop for half a second or more; shorter pauses are left to the network
  (lieu's short pauses are not at rest). Measured on the held-out blocks of three
  clips in docs/audio2mouth.md ("Two bars, a floor, and the long-pause gate").

The weight ramps over 50 ms at the edges of each gated stretch so the mouth closes
and opens smoothly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import label, maximum_filter1d, uniform_filter1d

from audio2mouth.timing import steps_to_frames
from landmarks.media import AUDIO_RATE

HOP = AUDIO_RATE // 100  # 10 ms levels


def levels_db(audio: np.ndarray) -> np.ndarray:
    """(N,) 16 kHz audio -> (ceil(N / 160) + 1,) level in dBFS of the 110 ms around each 10 ms step
    (the maximum over its neighbours, so a gap between two syllables does not count as quiet)."""
    n = len(audio) // HOP + 1
    power = np.pad(audio.astype(np.float64) ** 2, (0, n * HOP - len(audio))).reshape(n, HOP).mean(1)
    return 10 * np.log10(maximum_filter1d(power, size=11) + 1e-12)


def runs_at_least(mask: np.ndarray, min_steps: int) -> np.ndarray:
    """(S,) bool: ``mask`` keeping only its runs of at least ``min_steps`` consecutive True values."""
    runs, n = label(mask)
    if n == 0 or min_steps <= 1:
        return mask.copy()
    lengths = np.bincount(runs)  # lengths[0] counts the False steps
    keep = lengths >= min_steps
    keep[0] = False
    return keep[runs]


def toward_rest(coeffs: np.ndarray, weight: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """(T, k) ``coeffs`` moved to the ``rest`` (k,) shape by ``weight`` (T,) in [0, 1] (1: at rest)."""
    w = np.asarray(weight)[:, None]
    return (1 - w) * coeffs + w * rest


@dataclass(frozen=True)
class SilenceGate:
    """Quiet stretches where the mouth rests (module docstring). ``None`` disables a part."""

    silence_db: float | None = -60.0
    pause_below_peak_db: float | None = 35.0
    pause_min_s: float = 0.5

    def quiet_steps(self, audio: np.ndarray) -> np.ndarray:
        """(S,) bool per 10 ms step of ``audio``: whether the mouth should rest there."""
        level = levels_db(audio)
        quiet = np.zeros(len(level), bool)
        if self.silence_db is not None:
            quiet |= level < self.silence_db
        if self.pause_below_peak_db is not None and len(level):
            peak = np.percentile(level, 95)
            pause = level < peak - self.pause_below_peak_db
            quiet |= runs_at_least(pause, int(round(self.pause_min_s * 100)))
        return quiet

    def weight(self, audio: np.ndarray, times: np.ndarray) -> np.ndarray:
        """(T,) in [0, 1] at ``times`` (s from the audio's first sample): 1 where the mouth rests."""
        quiet = self.quiet_steps(audio).astype(np.float32)
        steps = np.arange(len(quiet)) * HOP / AUDIO_RATE
        return steps_to_frames(uniform_filter1d(quiet, size=5), steps, times)  # the 50 ms ramp

    def apply(self, coeffs: np.ndarray, audio: np.ndarray, times: np.ndarray, rest: np.ndarray) -> np.ndarray:
        """(T, k) coefficients at ``times`` moved to the ``rest`` (k,) shape where the mouth rests."""
        return toward_rest(coeffs, self.weight(audio, times), rest)


DEFAULT_GATE = SilenceGate()

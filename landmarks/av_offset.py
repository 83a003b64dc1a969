"""Phones of the footage's audio and the audio-video offset they reveal (used by prepare).

Prepare times the phones of the footage's audio (forced alignment of a transcript, else
recognition), estimates the offset between the sound and the mouth from them
(``landmarks.sync.phone_offset``) and shifts the audio when asked to, so every
later stage sees each sound under the frame whose mouth makes it.
"""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from landmarks.errors import LipsyncError


def timed_phones(samples: np.ndarray, cfg: DictConfig, transcript: str | None):
    """Phones of the footage's audio: forced alignment of the transcript, else recognition."""
    from landmarks.phones import phones_for

    return phones_for(samples, transcript, jobs=int(cfg.landmarks.phones.jobs))


def correct_offset(samples: np.ndarray, phones, result: dict, fps: float, timestamps: np.ndarray,
                   setting) -> tuple[np.ndarray, object, dict]:
    """Estimate the A/V offset from phones vs mouth opening and shift the audio per ``setting``.

    ``setting``: "auto" shifts by the estimate when its confidence reaches 0.15, a number shifts
    by that many ms, 0 never shifts. Returns (audio, phones, offset record for the report).
    """
    from landmarks.sync import phone_offset, relative_opening, shift_audio

    valid = result["valid"]
    record: dict = {"setting": str(setting), "estimate_ms": None, "confidence": None, "applied_ms": 0.0}
    if phones is not None and valid.sum() > 2 * fps:
        record["estimate_ms"], record["confidence"] = phone_offset(
            phones, relative_opening(result["landmarks"][valid]), timestamps[valid])
    if str(setting) == "auto":
        confident = record["confidence"] is not None and record["confidence"] >= 0.15
        applied = record["estimate_ms"] if confident else 0.0
    else:
        try:
            applied = float(setting)
        except ValueError as err:
            raise LipsyncError(f"landmarks.av_offset must be auto, 0 or a number of ms, got {setting!r}") from err
    record["applied_ms"] = float(applied)
    if applied:
        samples = shift_audio(samples, applied)
        phones = phones.shifted(applied / 1000) if phones is not None else None
    return samples, phones, record

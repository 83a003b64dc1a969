"""Text to speech with espeak-ng (installed by the project's setup), as 16 kHz mono audio."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import unicodedata
from pathlib import Path

import numpy as np

from landmarks.errors import LipsyncError
from landmarks.media import load_audio

# Unicode categories espeak-ng cannot pronounce: symbols (emoji...), controls, private use, unassigned.
_UNSAYABLE = {"So", "Sk", "Cc", "Cf", "Co", "Cs", "Cn"}


def check_text(text: str) -> str:
    """The text with whitespace normalized, or a LipsyncError naming the characters it cannot say."""
    text = " ".join(text.split())
    if not text:
        raise LipsyncError("text is empty")
    bad = sorted({ch for ch in text if unicodedata.category(ch) in _UNSAYABLE})
    if bad:
        shown = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in bad[:5])
        raise LipsyncError(f"the speech synthesizer cannot say these characters: {shown}")
    if not any(ch.isalnum() for ch in text):
        raise LipsyncError("text has nothing to say (no letters or digits)")
    return text


def synthesize(text: str, voice: str = "en-us", words_per_minute: int = 160) -> np.ndarray:
    """Speak ``text`` with espeak-ng; returns (N,) float32 at 16 kHz."""
    text = check_text(text)
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise LipsyncError("espeak-ng is not installed (apt-get install espeak-ng, or run `make setup`)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        result = subprocess.run([binary, "-v", voice, "-s", str(words_per_minute), "-w", str(wav), "--", text],
                                capture_output=True, text=True, timeout=600)
        if result.returncode != 0 or not wav.exists():
            message = (result.stderr or result.stdout).strip().splitlines()
            raise LipsyncError(f"espeak-ng failed: {message[0] if message else 'no output'}")
        audio = load_audio(wav)
    if np.abs(audio).max(initial=0) < 1e-3:
        raise LipsyncError("the speech synthesizer produced silence for this text")
    return audio

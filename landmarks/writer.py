"""Streaming H.264 + AAC mp4 writer (PyAV): frames in, one file out, bounded memory.

Audio is encoded alongside the video, up to each frame's end time, so the muxer
never has to buffer a whole stream. The file is written to a temporary name in
the same directory and renamed on success, so a failure never leaves a partial mp4.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from landmarks.errors import LipsyncError


class Mp4Writer:
    """``with Mp4Writer(path, fps, size, audio) as w: w.write(rgb)``.

    ``audio`` is (N,) float32 mono in [-1, 1] at ``audio_rate`` Hz, or None.
    ``size`` is (width, height); both are rounded down to even numbers for yuv420p.
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int], audio: np.ndarray | None = None,
                 audio_rate: int = 16_000, crf: int = 18, preset: str = "veryfast"):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self.fps = Fraction(fps).limit_denominator(1001)
        self.width, self.height = size[0] // 2 * 2, size[1] // 2 * 2
        self.audio = None if audio is None else np.asarray(audio, np.float32).reshape(-1)
        self.audio_rate = audio_rate
        self.crf, self.preset = crf, preset
        self.n_frames = 0
        self._audio_pos = 0

    def __enter__(self) -> Mp4Writer:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.container = av.open(str(self.tmp), mode="w")
        except (OSError, av.error.FFmpegError) as err:
            raise LipsyncError(f"cannot write {self.path}: {err}") from err
        self.vstream = self.container.add_stream("libx264", rate=self.fps)
        self.vstream.width, self.vstream.height = self.width, self.height
        self.vstream.pix_fmt = "yuv420p"
        self.vstream.options = {"crf": str(self.crf), "preset": self.preset}
        self.astream = None
        if self.audio is not None:
            self.astream = self.container.add_stream("aac", rate=self.audio_rate)
            self.astream.layout = "mono"
            self._frame_size = 1024  # AAC frame length in samples
        return self

    def write(self, rgb: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[: self.height, : self.width]), format="rgb24")
        self.container.mux(self.vstream.encode(frame))
        self.n_frames += 1
        self._write_audio_until(self.n_frames / float(self.fps))

    def _write_audio_until(self, t_s: float | None) -> None:
        if self.astream is None:
            return
        end = len(self.audio) if t_s is None else min(len(self.audio), int(round(t_s * self.audio_rate)))
        while self._audio_pos < end and (t_s is None or end - self._audio_pos >= self._frame_size):
            chunk = self.audio[self._audio_pos : self._audio_pos + self._frame_size]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            frame.sample_rate = self.audio_rate
            frame.pts = self._audio_pos
            self.container.mux(self.astream.encode(frame))
            self._audio_pos += len(chunk)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.container.mux(self.vstream.encode())
                self._write_audio_until(None)
                if self.astream is not None:
                    self.container.mux(self.astream.encode())
            self.container.close()
        finally:
            if exc_type is None:
                os.replace(self.tmp, self.path)
            else:
                self.tmp.unlink(missing_ok=True)

"""The one mp4 writer (PyAV, H.264 + AAC): frames in, one file out, no image dumps.

It sits in the lowest layer because everything writes video: the synthetic sample
(landmarks), the renderer's preview, speak, the tests and benchmarks.

With audio the frame count is fixed by it: ``n_frames_for_duration(audio seconds,
fps)`` frames, each shown for 1/fps s, so the video ends within one frame of
the audio. Without audio (a silent template take) any number of frames is written.
Audio is encoded as it becomes due, interleaved with the video, and only the
current frame is held: memory does not grow with the length. The
file is written under a temporary name next to the target and renamed when
complete; a failed or short write leaves no partial mp4 behind.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from landmarks.errors import LipsyncError
from landmarks.media import AUDIO_RATE
from landmarks.timebase import n_frames_for_duration


def rgb_to_yuv420p(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB, H and W even -> (H * 3 / 2, W) uint8 planar I420 (Y, then U, then V).

    BT.601 limited range, as FFmpeg's own rgb24 -> yuv420p conversion (luma within 1 level,
    chroma within 2-3: the two subsample it with different filters), at about a fifth of its
    time (720p: 1.2 ms instead of 6.2 ms per frame on the development CPU), which matters
    when the encoder shares two cores with the renderer.
    """
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420)


class VideoWriter:
    """Context manager: ``write(rgb)`` exactly ``n_frames`` times, then the file is finished.

    ``audio`` (N,) float32 mono in [-1, 1] at ``audio_rate`` Hz decides
    ``n_frames``. Writing more frames than that raises; closing with fewer
    raises (a template shorter than the requested output is an error, not a
    silently short video). ``audio=None`` writes a silent video of as many
    frames as are given (``n_frames`` is then None). Frames are (H, W, 3) uint8 RGB of one size; an odd
    width or height is padded by one replicated row/column (yuv420p needs even sizes).
    """

    def __init__(
        self,
        path: str | Path,
        fps: float,
        audio: np.ndarray | None = None,
        audio_rate: int = AUDIO_RATE,
        crf: int = 18,
        preset: str = "veryfast",
        audio_bitrate: int = 128_000,
    ):
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise LipsyncError(f"output must be an .mp4 file: {self.path}")
        if not self.path.parent.is_dir():
            raise LipsyncError(f"output directory does not exist: {self.path.parent}")
        self.audio = None if audio is None else np.clip(np.asarray(audio, np.float32).reshape(-1), -1, 1)
        self.audio_rate = int(audio_rate)
        self.rate = Fraction(fps).limit_denominator(1001) if fps > 0 else None
        if self.rate is None or (self.audio is not None and len(self.audio) == 0):
            raise LipsyncError("the video writer needs fps > 0 and, when given, a non-empty audio track")
        self.n_frames = (None if self.audio is None
                         else n_frames_for_duration(len(self.audio) / self.audio_rate, float(self.rate)))
        self.crf, self.preset, self.audio_bitrate = crf, preset, audio_bitrate
        self.tmp = self.path.with_name(f".{self.path.stem}.partial.mp4")
        self.count = 0
        self._audio_pos = 0
        self._container = None

    def _open(self, height: int, width: int) -> None:
        self._container = av.open(str(self.tmp), mode="w", format="mp4")
        video = self._container.add_stream("libx264", rate=self.rate)
        video.width, video.height = width + width % 2, height + height % 2
        video.pix_fmt = "yuv420p"
        video.time_base = 1 / self.rate
        video.options = {"crf": str(self.crf), "preset": self.preset}
        audio = None
        if self.audio is not None:
            audio = self._container.add_stream("aac", rate=self.audio_rate)
            audio.layout = "mono"
            audio.bit_rate = self.audio_bitrate
        self._video, self._audio_stream = video, audio
        self._size = (height, width)

    def _encode_audio_until(self, sample: int) -> None:
        if self._audio_stream is None:
            return
        step = self._audio_stream.codec_context.frame_size or 1024
        while self._audio_pos < min(sample, len(self.audio)):
            end = min(self._audio_pos + step, len(self.audio))
            chunk = self.audio[self._audio_pos : end]
            frame = av.AudioFrame.from_ndarray(chunk[None], format="flt", layout="mono")
            frame.sample_rate = self.audio_rate
            frame.pts = self._audio_pos
            frame.time_base = Fraction(1, self.audio_rate)
            for packet in self._audio_stream.encode(frame):
                self._container.mux(packet)
            self._audio_pos = end

    def write(self, frame: np.ndarray) -> None:
        """Encode one (H, W, 3) uint8 RGB frame."""
        if self.n_frames is not None and self.count >= self.n_frames:
            raise LipsyncError(
                f"the audio covers {self.n_frames} frames; frame {self.count + 1} is too many"
            )
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise LipsyncError(f"frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        if self._container is None:
            self._open(*frame.shape[:2])
        elif frame.shape[:2] != self._size:
            raise LipsyncError(f"frame size changed from {self._size} to {frame.shape[:2]}")
        if frame.shape[0] % 2 or frame.shape[1] % 2:
            frame = np.pad(
                frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), mode="edge"
            )
        vf = av.VideoFrame.from_ndarray(rgb_to_yuv420p(frame), format="yuv420p")
        vf.pts = self.count
        for packet in self._video.encode(vf):
            self._container.mux(packet)
        self.count += 1
        # Audio up to the end of this frame, so the two streams stay interleaved.
        self._encode_audio_until(int(round(self.count / self.rate * self.audio_rate)))

    def close(self) -> Path:
        """Flush the encoders and rename the file into place; returns the final path."""
        if self.n_frames is not None and self.count != self.n_frames:
            self.abort()
            raise LipsyncError(
                f"got {self.count} frames, the audio ({len(self.audio) / self.audio_rate:.3f} s) "
                f"needs {self.n_frames} at {float(self.rate):g} fps"
            )
        if self._container is None:
            self.abort()
            raise LipsyncError(f"no frames were written to {self.path}")
        if self.audio is not None:
            self._encode_audio_until(len(self.audio))
        for packet in self._video.encode(None):
            self._container.mux(packet)
        if self._audio_stream is not None:
            for packet in self._audio_stream.encode(None):
                self._container.mux(packet)
        self._container.close()
        self._container = None
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        if self._container is not None:
            try:
                self._container.close()
            except av.error.FFmpegError:
                pass
            self._container = None
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


def write_video(
    path: str | Path, frames, fps: float, audio: np.ndarray | None, audio_rate: int = AUDIO_RATE, **options
) -> Path:
    """Stream an iterable of frames into ``path``; with audio, takes exactly as many as it needs."""
    writer = VideoWriter(path, fps, audio, audio_rate, **options)
    with writer:
        for frame in frames:
            if writer.count == writer.n_frames:
                break
            writer.write(frame)
    return writer.path

"""Media I/O with PyAV: streamed video frames with timestamps, audio as 16 kHz mono float.

Frames are yielded one at a time (a whole video is never held in memory) as
RGB uint8 arrays (H, W, 3). Timestamps come from each frame's presentation
time, so variable-frame-rate footage keeps correct timing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from landmarks.errors import LipsyncError

AUDIO_RATE = 16_000  # Hz, the rate every stage works at


@dataclass(frozen=True)
class VideoInfo:
    """What we need to know about a video before decoding it."""

    path: Path
    width: int
    height: int
    fps: float  # average frame rate (frames per second)
    n_frames: int  # container's estimate; exact count comes from decoding
    duration_s: float
    has_audio: bool


def _open(path: str | Path) -> av.container.InputContainer:
    path = Path(path)
    if not path.exists():
        raise LipsyncError(f"file not found: {path}")
    if path.is_dir():
        raise LipsyncError(f"expected a media file, got a directory: {path}")
    try:
        return av.open(str(path))
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as err:
        raise LipsyncError(f"not a readable media file: {path} ({err.__class__.__name__})") from err


def probe_video(path: str | Path) -> VideoInfo:
    """Read stream metadata; raises :class:`LipsyncError` when there is no video stream."""
    with _open(path) as container:
        if not container.streams.video:
            raise LipsyncError(f"no video stream in {path}")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if not rate:
            raise LipsyncError(f"cannot determine the frame rate of {path}")
        fps = float(rate)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        n_frames = stream.frames or int(round(duration * fps))
        return VideoInfo(
            path=Path(path),
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=fps,
            n_frames=n_frames,
            duration_s=duration,
            has_audio=bool(container.streams.audio),
        )


def iter_frames(path: str | Path, threads: bool = True) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(timestamp_s, rgb)`` for every frame; ``rgb`` is (H, W, 3) uint8.

    ``timestamp_s`` is the presentation time relative to the first frame.
    FFmpeg's frame threading decodes on the other core while we work on this one.
    """
    with _open(path) as container:
        if not container.streams.video:
            raise LipsyncError(f"no video stream in {path}")
        stream = container.streams.video[0]
        if threads:
            stream.thread_type = "AUTO"
        t0 = None
        previous = -np.inf
        try:
            for frame in container.decode(stream):
                t = frame.time if frame.time is not None else previous + 1.0 / float(
                    stream.average_rate or 25
                )
                if t0 is None:
                    t0 = t
                previous = t
                yield t - t0, frame.to_ndarray(format="rgb24")
        except av.error.InvalidDataError as err:
            raise LipsyncError(f"corrupt video data in {path}: {err}") from err


def load_audio(path: str | Path, rate: int = AUDIO_RATE, start_at_s: float | None = None) -> np.ndarray:
    """Decode the first audio stream of any file FFmpeg reads as mono float32 in [-1, 1].

    Any sample rate and channel layout is resampled to ``rate`` Hz mono (channels
    averaged). With ``start_at_s`` the result is shifted so that sample 0 is at that
    time of the container's timeline (used to align a video's own audio with its
    first video frame: zeros are prepended if the audio starts later).
    Returns (N,) float32.
    """
    with _open(path) as container:
        if not container.streams.audio:
            raise LipsyncError(f"no audio stream in {path}")
        stream = container.streams.audio[0]
        declared_s = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
        # Resample but keep the channels, then average them: FFmpeg's own stereo->mono
        # downmix scales by 1/sqrt(2) and would change loudness between files.
        resampler = av.AudioResampler(format="fltp", rate=rate)
        chunks: list[np.ndarray] = []
        first_time = None
        try:
            for frame in container.decode(stream):
                if first_time is None and frame.time is not None:
                    first_time = frame.time
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().mean(axis=0))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().mean(axis=0))
        except av.error.InvalidDataError as err:
            raise LipsyncError(f"corrupt audio data in {path}: {err}") from err
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if audio.size == 0:
        raise LipsyncError(f"the audio stream of {path} is empty")
    if declared_s is not None:
        # AAC decoders return whole 1024-sample frames; the stream's duration says where it ends.
        audio = audio[: int(round(declared_s * rate))]
    if start_at_s is not None and first_time is not None:
        shift = int(round((first_time - start_at_s) * rate))
        if shift > 0:
            audio = np.concatenate([np.zeros(shift, np.float32), audio])
        elif shift < 0:
            audio = audio[-shift:]
    return np.clip(audio, -1.0, 1.0)


def video_start_time(path: str | Path) -> float:
    """Presentation time (seconds) of the first video frame on the container timeline."""
    with _open(path) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            return float(frame.time or 0.0)
    raise LipsyncError(f"no decodable video frame in {path}")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()

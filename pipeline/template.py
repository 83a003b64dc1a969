"""The template: head pose and background for the output, taken from real footage.

A segment of the template clip is decoded once into a flat file on disk, then
read back frame by frame in "ping-pong" order (forwards, backwards, forwards...)
for as long as the audio lasts, so a short template never jumps back to its
first frame and memory stays constant whatever the output length.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from landmarks.cache import SpeakerCache
from landmarks.errors import LipsyncError
from landmarks.media import iter_frames
from landmarks.prepare import prepare


def prepare_with_bundle_settings(cfg: DictConfig, face_map: dict, name: str, video: Path,
                                 audio: str | None = None, require_audio: bool = True) -> SpeakerCache:
    """Prepare (or reuse) a clip of the bundle's anchor with the bundle's face-map parameters.

    ``cfg`` supplies ``paths.cache_dir`` and the ``landmarks`` settings; ``name``
    names the cache (``<speaker>_template``, ``<speaker>_eval``) so the stage
    trainers' ``<speaker>-*`` globs never pick it up.
    """
    prep = OmegaConf.create({
        "speaker": name, "video": str(video), "audio": audio, "force": False, "require_audio": require_audio,
        "paths": {"cache_dir": cfg.paths.cache_dir}, "landmarks": cfg.landmarks, "face_map": face_map,
    })
    return SpeakerCache(prepare(prep))


def bounce_indices(n_out: int, first: int, last: int) -> np.ndarray:
    """Template frame index for each of ``n_out`` output frames, ping-ponging over [first, last]."""
    length = last - first + 1
    if length <= 0:
        raise LipsyncError("the template segment is empty")
    if length == 1:
        return np.full(n_out, first, dtype=np.int64)
    period = 2 * (length - 1)
    k = np.arange(n_out) % period
    return first + np.where(k < length, k, period - k)


def segment_range(cache: SpeakerCache, start_s: float, duration_s: float | None) -> tuple[int, int]:
    """First and last frame index of the template segment [start_s, start_s + duration_s)."""
    times = cache.timestamps
    first = int(np.searchsorted(times, start_s - 1e-6))
    if first >= len(times):
        raise LipsyncError(f"template_start_s={start_s} is past the template's end ({times[-1]:.1f} s)")
    end_s = times[-1] + 1 if duration_s is None else start_s + duration_s
    last = int(np.searchsorted(times, end_s - 1e-6)) - 1
    if last < first:
        raise LipsyncError("the template segment holds no frame; increase template_duration_s")
    return first, last


class FrameStore:
    """Frames [first, last] of a video, spilled to disk once, read back by index as (H, W, 3) uint8."""

    def __init__(self, video: Path, first: int, last: int, scratch: str | Path | None = None):
        self.first, self.last = first, last
        self._dir = tempfile.TemporaryDirectory(prefix="template-", dir=scratch)
        self._path = Path(self._dir.name) / "frames.u8"
        self.shape: tuple[int, int, int] | None = None
        count = 0
        with open(self._path, "wb") as sink:
            for index, (_, rgb) in enumerate(iter_frames(video)):
                if index > last:
                    break
                if index >= first:
                    self.shape = rgb.shape
                    sink.write(np.ascontiguousarray(rgb).tobytes())
                    count += 1
        if count != last - first + 1:
            raise LipsyncError(f"{video} has fewer frames than its landmark track ({first + count} < {last + 1})")
        self._nbytes = int(np.prod(self.shape))
        self._source = open(self._path, "rb")

    def __getitem__(self, index: int) -> np.ndarray:
        if not self.first <= index <= self.last:
            raise IndexError(index)
        self._source.seek((index - self.first) * self._nbytes)
        return np.frombuffer(self._source.read(self._nbytes), np.uint8).reshape(self.shape)

    def close(self) -> None:
        self._source.close()
        self._dir.cleanup()

    def __enter__(self) -> FrameStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

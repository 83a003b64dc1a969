"""The template: head pose and background for the output, taken from real footage.

A segment of the template clip is decoded once, as it is first needed, into a
flat file on disk, then read back frame by frame in "ping-pong" order (forwards, backwards, forwards...)
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
    """Frames [first, last] of a video, read back by index as (H, W, 3) uint8.

    Decoding is lazy: a frame is decoded when it (or a later one) is first asked for and
    spilled to a flat file on disk, which the later, ping-pong passes read back. So speak's
    worker thread decodes the template while the main thread pastes and encodes, instead of
    the whole segment being decoded before the first frame is painted. Not thread-safe: one
    reader (the worker) at a time.
    """

    def __init__(self, video: Path, first: int, last: int, scratch: str | Path | None = None):
        self.video, self.first, self.last = Path(video), first, last
        self._dir = tempfile.TemporaryDirectory(prefix="template-", dir=scratch)
        self._file = open(Path(self._dir.name) / "frames.u8", "w+b")
        self._frames = iter_frames(self.video)
        self._decoded = 0  # frames the decoder has yielded (those from `first` on are in the file)
        self.shape: tuple[int, int, int] | None = None
        self._nbytes = 0

    @property
    def stored(self) -> int:
        """How many frames of the segment are decoded and in the file."""
        return max(0, self._decoded - self.first)

    def _decode_through(self, index: int) -> None:
        """Decode (and spill) frames until ``index`` is stored."""
        self._file.seek(0, 2)  # reads move the position; frames are appended
        while self._decoded <= index:
            item = next(self._frames, None)
            if item is None:
                raise LipsyncError(f"{self.video} has fewer frames than its landmark track "
                                   f"({self._decoded} < {self.last + 1})")
            self._decoded += 1
            if self._decoded <= self.first:
                continue
            rgb = item[1]
            if self.shape is None:
                self.shape, self._nbytes = rgb.shape, int(np.prod(rgb.shape))
            self._file.write(np.ascontiguousarray(rgb).tobytes())

    def __getitem__(self, index: int) -> np.ndarray:
        if not self.first <= index <= self.last:
            raise IndexError(index)
        if index >= self._decoded:
            self._decode_through(index)
        self._file.seek((index - self.first) * self._nbytes)
        return np.frombuffer(self._file.read(self._nbytes), np.uint8).reshape(self.shape)

    def close(self) -> None:
        self._frames.close()  # the generator's own cleanup closes the container
        self._file.close()
        self._dir.cleanup()

    def __enter__(self) -> FrameStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

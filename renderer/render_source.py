"""The renderer's view of a speaker cache: render-box crops, landmarks, edges and face maps.

With the whole face crop as render box the cache's own crops and edges are used
as prepare stored them. With a tighter box (the lower face) the crops are cut
again from the full-resolution footage (``meta.json`` names it), so the box gets
the source's pixels, not an upsampled copy of the 128 px crop.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from landmarks.cache import SpeakerCache
from landmarks.crop import extract_crop, frame_to_crop
from landmarks.errors import LipsyncError
from landmarks.facemap import canny_edges, draw_face_map, lower_face_mask
from landmarks.media import iter_frames
from renderer.render_box import RenderBox

log = logging.getLogger(__name__)


def source_video(cache: SpeakerCache) -> Path:
    """The footage a cache was prepared from; a clear error when it has moved."""
    video = cache.meta.get("source", {}).get("video")
    if not video or not Path(video).exists():
        raise LipsyncError(
            f"a render box tighter than the face crop needs the cache's source video ({video!r}, "
            f"not found); use render_box=face or restore the footage"
        )
    return Path(video)


def cut_crops(video: Path, frame_boxes: np.ndarray, indices: np.ndarray, size: int,
              progress: bool = True) -> np.ndarray:
    """(N, size, size, 3) uint8 crops of frames ``indices`` (sorted or not) at their boxes (T, 3)."""
    order = np.asarray(indices)
    wanted = {int(i): k for k, i in enumerate(order)}
    out = np.empty((len(order), size, size, 3), np.uint8)
    last = int(order.max()) if len(order) else -1
    found = 0
    frames = tqdm(iter_frames(video), total=last + 1, desc="render crops", unit="frame", disable=not progress)
    for i, (_, rgb) in enumerate(frames):
        if i > last:
            break
        if i in wanted:
            out[wanted[i]] = extract_crop(rgb, frame_boxes[i], size)
            found += 1
    if found < len(wanted):
        raise LipsyncError(f"{video} has fewer frames than its cache ({found} of {len(wanted)} found)")
    return out


class RenderSource:
    """Crops, landmarks, edges and face maps of cache frames at a render box."""

    def __init__(self, cache: SpeakerCache, box: RenderBox, indices: np.ndarray, progress: bool = True):
        self.cache, self.box = cache, box
        self.indices = np.asarray(indices)
        self.params = box.face_map_params(cache.face_map_params)
        self.frame_boxes = box.frame_boxes(cache.crop_boxes)
        self._row = {int(i): k for k, i in enumerate(self.indices)}
        if box.is_whole_crop:
            self._crops = None  # the cache's memory-mapped crops, read row by row
        else:
            log.info("cutting %d render-box crops (%d px) from %s", len(self.indices), box.size,
                     source_video(cache))
            self._crops = cut_crops(source_video(cache), self.frame_boxes, self.indices, box.size, progress)

    def crop(self, i: int) -> np.ndarray:
        """(S, S, 3) uint8 crop of frame ``i`` (one of ``indices``)."""
        if self._crops is None:
            return np.array(self.cache.crops[i])
        return self._crops[self._row[int(i)]]

    def landmarks(self, i: int) -> np.ndarray:
        """(68, 2) landmarks of frame ``i`` in render-box px."""
        return frame_to_crop(self.cache.landmarks[i], self.frame_boxes[i], self.box.size)

    def edges(self, i: int) -> np.ndarray:
        return self.cache.edges(i) if self._crops is None else canny_edges(self.crop(i), self.params)

    def face_map(self, i: int) -> np.ndarray:
        return draw_face_map(self.landmarks(i), self.edges(i), self.params)

    def lower_mask(self, i: int) -> np.ndarray:
        return lower_face_mask(self.landmarks(i), self.params)

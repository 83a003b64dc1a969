"""First pass over the footage: decode once, track landmarks, keep a loose face crop.

The final crop boxes are smoothed over the whole clip, so they are only known
after every frame has been seen. Rather than decoding the video twice, this pass
stores, per frame, a slightly larger and finer "work crop" around the raw face
position in a flat file on disk; the second pass cuts the final crop out of it.
Memory stays constant in the clip length: only one frame is held at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from landmarks.crop import extract_crop
from landmarks.detect import DetectParams, FaceTracker
from landmarks.media import VideoInfo, iter_frames


@dataclass
class FirstPass:
    """Per-frame results of the first pass. T frames."""

    timestamps: np.ndarray  # (T,) float64 seconds from the first frame
    raw_landmarks: np.ndarray  # (T, 68, 2) float32 full-frame px, NaN where no face
    work_boxes: np.ndarray  # (T, 3) float32 (cx, cy, side) of each work crop
    work_crops_path: Path  # raw (T, W, W, 3) uint8 RGB work crops, frame after frame
    work_size: int  # W, pixels
    detector_calls: int

    def work_crop(self, index: int, source) -> np.ndarray:
        """(W, W, 3) work crop ``index`` read from the open binary file ``source``.

        A plain read, not a memory map: mapped pages would count towards the
        process's resident memory and make it grow with the clip length.
        """
        nbytes = self.work_size * self.work_size * 3
        source.seek(index * nbytes)
        return np.frombuffer(source.read(nbytes), np.uint8).reshape(self.work_size, self.work_size, 3)


def work_box(points: np.ndarray, scale: float, margin: float) -> np.ndarray:
    lo, hi = points.min(0), points.max(0)
    centre = (lo + hi) / 2
    return np.array([centre[0], centre[1], (hi - lo).max() * scale * margin], np.float32)


def run_first_pass(
    info: VideoInfo, detect: DetectParams, crop_scale: float, work_margin: float, work_size: int,
    scratch: Path, progress: bool = True,
) -> FirstPass:
    """Decode ``info.path`` once; return landmarks, timestamps and work crops (on disk in ``scratch``)."""
    tracker = FaceTracker(detect, info.fps)
    crops_path = scratch / "work_crops.u8"
    timestamps: list[float] = []
    landmarks: list[np.ndarray] = []
    boxes: list[np.ndarray] = []
    last_box = np.array([info.width / 2, info.height / 2, min(info.width, info.height)], np.float32)
    nan_shape = np.full((68, 2), np.nan, np.float32)
    bar = tqdm(total=info.n_frames or None, desc="landmarks", unit="frame", disable=not progress)
    with open(crops_path, "wb") as sink:
        for t, rgb in iter_frames(info.path):
            gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            points = tracker.update(gray)
            if points is not None:
                last_box = work_box(points, crop_scale, work_margin)
            sink.write(np.ascontiguousarray(extract_crop(rgb, last_box, work_size)).tobytes())
            timestamps.append(t)
            landmarks.append(points if points is not None else nan_shape)
            boxes.append(last_box)
            bar.update(1)
    bar.close()
    n = len(timestamps)
    return FirstPass(
        timestamps=np.asarray(timestamps, np.float64),
        raw_landmarks=np.stack(landmarks) if n else np.zeros((0, 68, 2), np.float32),
        work_boxes=np.stack(boxes) if n else np.zeros((0, 3), np.float32),
        work_crops_path=crops_path,
        work_size=work_size,
        detector_calls=tracker.n_detector_calls,
    )

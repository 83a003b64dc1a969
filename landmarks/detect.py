"""Face detection and 68-point landmark tracking with dlib (the only dlib import).

Per frame: the shape predictor runs from a box derived from the previous frame's
landmarks (cheap, about 1 ms). The HOG detector (expensive) runs only on a
downscaled region of interest: to start, to confirm the face every
``redetect_every_s`` seconds, and when tracking degrades (the landmark box jumps
or changes size). One speaker is followed: the largest face at the start, and
afterwards always the face that overlaps the tracked one.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import numpy as np

from landmarks.errors import LipsyncError


def predictor_path() -> Path:
    """Path of the 68-point model shipped in ``face-recognition-models``.

    Located with importlib (importing the package needs pkg_resources, which
    recent setuptools-free environments lack).
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise LipsyncError("package face-recognition-models is not installed (it ships the dlib model)")
    path = Path(spec.origin).parent / "models" / "shape_predictor_68_face_landmarks.dat"
    if not path.exists():
        raise LipsyncError(f"dlib 68-point model missing: {path}")
    return path


@dataclass(frozen=True)
class DetectParams:
    target_face_px: float = 110.0
    redetect_every_s: float = 0.5
    min_iou: float = 0.5
    max_scale_change: float = 0.2
    min_appearance: float = 0.5  # normalized correlation with the face seen at the last detection


Box = np.ndarray  # (4,) float: x0, y0, x1, y1 in full-frame pixels


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def appearance(gray: np.ndarray, box: Box, size: int = 24) -> np.ndarray | None:
    """The box's content as a zero-mean, unit-norm (size*size,) vector, or None if off-frame."""
    x0, y0 = int(max(0, box[0])), int(max(0, box[1]))
    x1, y1 = int(min(gray.shape[1], box[2])), int(min(gray.shape[0], box[3]))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    patch = cv2.resize(gray[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    patch = patch.reshape(-1) - patch.mean()
    norm = np.linalg.norm(patch)
    return patch / norm if norm > 1e-3 else None


def landmark_box(points: np.ndarray) -> Box:
    return np.array([*points.min(0), *points.max(0)], dtype=np.float64)


class FaceTracker:
    """Stateful per-frame landmarker. Feed frames in order with :meth:`update`."""

    def __init__(self, params: DetectParams, fps: float):
        self.params = params
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(predictor_path()))
        self.check_every = max(1, int(round(params.redetect_every_s * fps)))
        self._box: Box | None = None  # detector-style box of the tracked face
        self._since_check = 0
        self._template: np.ndarray | None = None  # appearance of the face at the last detection
        # Detector box expressed relative to the landmark box, learned at each detection,
        # so tracking boxes look like the boxes the predictor was trained on.
        self._box_from_landmarks = np.array([0.0, 0.0, 1.0, 1.0])
        self.n_detector_calls = 0

    def update(self, gray: np.ndarray) -> np.ndarray | None:
        """Landmarks (68, 2) float32 in pixels of ``gray`` (H, W) uint8, or None if no face."""
        if self._box is None:
            return self._acquire(gray, near=None)
        self._since_check += 1
        if self._since_check >= self.check_every or not self._looks_like_tracked_face(gray):
            return self._acquire(gray, near=self._box)
        points = self._predict(gray, self._box)
        new_box = self._detector_box(points)
        old_w = self._box[2] - self._box[0]
        new_w = new_box[2] - new_box[0]
        if iou(new_box, self._box) < self.params.min_iou or abs(new_w / old_w - 1) > self.params.max_scale_change:
            return self._acquire(gray, near=self._box)
        self._box = new_box
        return points

    def _looks_like_tracked_face(self, gray: np.ndarray) -> bool:
        """Cheap check that the tracked box still shows the same face (a cut, or the face left).

        The shape predictor always returns a face-shaped answer, even on a wall, so
        it cannot tell; a 24x24 correlation with the last detected face can.
        """
        current = appearance(gray, self._box)
        if current is None or self._template is None:
            return False
        return float(current @ self._template) >= self.params.min_appearance

    def _acquire(self, gray: np.ndarray, near: Box | None) -> np.ndarray | None:
        """Run the detector (in a region around ``near`` if given) and start tracking."""
        self._since_check = 0
        found = self._detect_near(gray, near) if near is not None else []
        if not found:
            found = self._detect_full(gray)
        if not found:
            self._box = None
            return None
        if near is not None:
            box = max(found, key=lambda b: iou(b, near))
            if iou(box, near) < 0.2:  # a different face: our speaker is gone
                box = max(found, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        else:
            box = max(found, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        points = self._predict(gray, box)
        self._learn_box_relation(box, points)
        self._template = appearance(gray, box)
        return points

    def _detect_near(self, gray: np.ndarray, near: Box) -> list[Box]:
        w, h = near[2] - near[0], near[3] - near[1]
        cx, cy = (near[0] + near[2]) / 2, (near[1] + near[3]) / 2
        half = max(w, h)  # a region twice the face size
        x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
        x1, y1 = int(min(gray.shape[1], cx + half)), int(min(gray.shape[0], cy + half))
        scale = min(1.0, self.params.target_face_px / max(w, 1.0))
        return self._run_detector(gray[y0:y1, x0:x1], scale, offset=(x0, y0), upsample=0)

    def _detect_full(self, gray: np.ndarray) -> list[Box]:
        """Whole-frame search: downscaled first, then at full resolution for small faces."""
        scale = min(1.0, 640.0 / max(gray.shape))
        found = self._run_detector(gray, scale, offset=(0, 0), upsample=0)
        if not found:
            found = self._run_detector(gray, min(1.0, 2 * scale), offset=(0, 0), upsample=1)
        return found

    def _run_detector(self, gray: np.ndarray, scale: float, offset: tuple[int, int], upsample: int) -> list[Box]:
        if gray.size == 0:
            return []
        small = gray if scale >= 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        self.n_detector_calls += 1
        rects = self.detector(np.ascontiguousarray(small), upsample)
        ox, oy = offset
        return [
            np.array([r.left() / scale + ox, r.top() / scale + oy, r.right() / scale + ox, r.bottom() / scale + oy])
            for r in rects
        ]

    def _predict(self, gray: np.ndarray, box: Box) -> np.ndarray:
        rect = dlib.rectangle(*(int(round(v)) for v in box))
        shape = self.predictor(gray, rect)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def _learn_box_relation(self, box: Box, points: np.ndarray) -> None:
        lb = landmark_box(points)
        w, h = max(lb[2] - lb[0], 1.0), max(lb[3] - lb[1], 1.0)
        self._box_from_landmarks = np.array(
            [(box[0] - lb[0]) / w, (box[1] - lb[1]) / h, (box[2] - lb[0]) / w, (box[3] - lb[1]) / h]
        )
        self._box = box

    def _detector_box(self, points: np.ndarray) -> Box:
        lb = landmark_box(points)
        w, h = lb[2] - lb[0], lb[3] - lb[1]
        r = self._box_from_landmarks
        return np.array([lb[0] + r[0] * w, lb[1] + r[1] * h, lb[0] + r[2] * w, lb[1] + r[3] * h])

"""The tracker follows one dominant face, re-detects when it jumps, and reports absence."""

from __future__ import annotations

import cv2
import numpy as np

from landmarks.detect import DetectParams, FaceTracker
from landmarks.synthetic import base_portrait


def canvas_with_faces(face: np.ndarray, placements: list[tuple[int, int, float]]) -> np.ndarray:
    """A 480x640 gray canvas with the portrait pasted at (x, y) with the given scale."""
    canvas = np.full((480, 640), 90, np.uint8)
    gray = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    for x, y, scale in placements:
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
    return canvas


def centre(points: np.ndarray) -> np.ndarray:
    return points.mean(0)


def test_follows_the_dominant_face_while_a_second_face_moves():
    face, _ = base_portrait()
    tracker = FaceTracker(DetectParams(redetect_every_s=0.2), fps=25)
    centres = []
    for i in range(30):
        frame = canvas_with_faces(face, [(20, 100, 1.0), (330 + 3 * i, 150, 0.8)])
        points = tracker.update(frame)
        assert points is not None
        centres.append(centre(points))
    centres = np.array(centres)
    assert (centres[:, 0] < 280).all()  # always the big face on the left
    assert np.ptp(centres, axis=0).max() < 3  # and it did not move


def test_redetects_after_a_jump_and_reports_no_face():
    face, _ = base_portrait()
    tracker = FaceTracker(DetectParams(redetect_every_s=10.0), fps=25)  # only degradation triggers
    first = tracker.update(canvas_with_faces(face, [(20, 100, 1.0)]))
    calls = tracker.n_detector_calls
    tracker.update(canvas_with_faces(face, [(20, 100, 1.0)]))
    assert tracker.n_detector_calls == calls  # steady: tracked without the detector
    jumped = tracker.update(canvas_with_faces(face, [(360, 180, 1.0)]))
    assert tracker.n_detector_calls > calls
    np.testing.assert_allclose(centre(jumped) - centre(first), [340, 80], atol=3)
    assert tracker.update(np.full((480, 640), 90, np.uint8)) is None

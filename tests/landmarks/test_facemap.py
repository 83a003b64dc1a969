"""The face map is deterministic and shows the mouth from landmarks, not from the reference."""

from __future__ import annotations

import numpy as np

from landmarks.facemap import FaceMapParams, canny_edges, draw_face_map, lower_face_mask
from landmarks.synthetic import base_portrait


def portrait_inputs(size: int = 128):
    face, points = base_portrait()  # 256 px portrait and its dlib landmarks
    import cv2

    crop = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
    params = FaceMapParams(size=size)
    return crop, points * size / face.shape[0], params


def test_face_map_is_deterministic_and_has_three_meaningful_channels():
    crop, points, params = portrait_inputs()
    edges = canny_edges(crop, params)
    a = draw_face_map(points, edges, params)
    b = draw_face_map(points.copy(), edges.copy(), params)
    assert a.shape == (128, 128, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert (a[..., 0] > 0).sum() > 300  # landmark lines
    assert (a[..., 1] > 0).sum() > 100  # edges
    assert (a[..., 2] > 0).sum() > 5  # inner mouth


def test_lower_face_edges_are_masked_and_the_mouth_follows_the_landmarks():
    crop, points, params = portrait_inputs()
    edges = np.ones((128, 128), bool)  # edges everywhere: only the mask can remove them
    face_map = draw_face_map(points, edges, params)
    mask = lower_face_mask(points, params).astype(bool)
    assert mask.sum() > 200
    assert not face_map[..., 1][mask].any()
    opened = points.copy()
    opened[[65, 66, 67], 1] += 6  # drop the lower inner lip
    assert (draw_face_map(opened, edges, params)[..., 2] > 0).sum() > (face_map[..., 2] > 0).sum()

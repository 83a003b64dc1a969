"""Named index sets of dlib's 68-point (iBUG 300-W) landmark layout."""

from __future__ import annotations

import numpy as np

JAW = np.arange(0, 17)
RIGHT_BROW = np.arange(17, 22)
LEFT_BROW = np.arange(22, 27)
NOSE_BRIDGE = np.arange(27, 31)
NOSE_BOTTOM = np.arange(31, 36)
RIGHT_EYE = np.arange(36, 42)
LEFT_EYE = np.arange(42, 48)
OUTER_LIPS = np.arange(48, 60)
INNER_LIPS = np.arange(60, 68)
LIPS = np.arange(48, 68)

# Points that do not move when the anchor speaks: eye corners and the nose.
# The per-frame similarity transform is fitted on these only.
STABLE = np.array([36, 39, 42, 45, 27, 28, 29, 30, 31, 33, 35])

# The part of the face that speech moves: lips plus the lower jaw (points 3..13).
LOWER_JAW = np.arange(3, 14)
LOWER_FACE = np.concatenate([LOWER_JAW, LIPS])

# Inner-lip midpoints used for mouth opening (upper 62, lower 66).
INNER_UPPER_MID = 62
INNER_LOWER_MID = 66


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """Inner-lip gap: distance between points 62 and 66, in the landmarks' units.

    ``landmarks`` is (..., 68, 2); returns (...,).
    """
    gap = landmarks[..., INNER_LOWER_MID, :] - landmarks[..., INNER_UPPER_MID, :]
    return np.linalg.norm(gap, axis=-1)

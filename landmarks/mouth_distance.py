"""Landmark distance (LMD) of mouth shapes, and the still mouth it must beat.

Shared by the end-to-end evaluation (points detected on rendered and real frames) and by
audio2mouth's held-out metrics (points decoded from predicted and true coefficients), so the
two stages report the same quantity against the same bar.
"""

from __future__ import annotations

import numpy as np


def _centred(points: np.ndarray) -> np.ndarray:
    return points - points.mean(1, keepdims=True)


def centred_distance(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Per frame (T,): mean point distance of two (T, P, 2) point sets, each set mean-centred.

    Centring removes head position, so this measures shape only; units are the inputs'.
    """
    return np.linalg.norm(_centred(pred) - _centred(true), axis=-1).mean(1)


def still_distance(true: np.ndarray) -> np.ndarray:
    """Per frame (T,): :func:`centred_distance` of a still shape, the mean of the truth's centred shapes.

    The bar a moving mouth must clear: the distance rewards an average mouth, so a model is
    only useful if it lands well below this.
    """
    t = _centred(true)
    return np.linalg.norm(t - t.mean(0, keepdims=True), axis=-1).mean(1)

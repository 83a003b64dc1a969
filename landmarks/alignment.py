"""Per-frame similarity alignment to a canonical face frame.

Coordinate frames:
- *frame*: full-frame pixels of the footage, x right, y down.
- *canonical*: a face frame where the stable points (eye corners, nose) of the
  speaker's reference shape have zero mean and unit RMS radius. Lower-face
  shapes are compared and reduced by PCA in this frame, so head rotation,
  scale and position do not leak into the mouth coefficients.

Transforms are (2, 3) float arrays ``[s*R | t]`` acting on column points:
``p_canonical = A @ [x, y, 1]``.
"""

from __future__ import annotations

import numpy as np

from landmarks.indices import LOWER_FACE, STABLE


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src -> dst.

    Umeyama's closed form, reflection excluded. ``src``/``dst`` are (N, 2); returns (2, 3).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.T @ xs / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0
    fix = np.diag([1.0, d])
    rot = u @ fix @ vt
    var_s = (xs**2).sum() / len(src)
    scale = (sig * np.diag(fix)).sum() / var_s
    out = np.empty((2, 3))
    out[:, :2] = scale * rot
    out[:, 2] = mu_d - scale * rot @ mu_s
    return out


def apply_transform(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply (..., 2, 3) transforms to (..., N, 2) points; returns (..., N, 2)."""
    transform = np.asarray(transform)
    return points @ np.swapaxes(transform[..., :2], -1, -2) + transform[..., None, :, 2]


def invert_transform(transform: np.ndarray) -> np.ndarray:
    """Inverse of (..., 2, 3) affine transforms."""
    lin = np.linalg.inv(transform[..., :2])
    trans = -(lin @ transform[..., :, 2:])
    return np.concatenate([lin, trans], axis=-1)


def normalize_reference(shape: np.ndarray) -> np.ndarray:
    """Scale/shift a (68, 2) shape so its stable points have zero mean and unit RMS radius."""
    stable = shape[STABLE]
    center = stable.mean(0)
    radius = np.sqrt(((stable - center) ** 2).sum(1).mean())
    return (shape - center) / radius


def build_reference(landmarks: np.ndarray, valid: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Canonical reference shape (68, 2) by generalized Procrustes over the valid frames.

    Starts from the first valid frame and re-aligns every frame to the running mean,
    so the reference is the speaker's average face, independent of where it sat.
    """
    shapes = landmarks[valid]
    if len(shapes) == 0:
        raise ValueError("no valid frames to build a reference shape from")
    reference = normalize_reference(shapes[0])
    for _ in range(iterations):
        aligned = apply_transform(fit_transforms(shapes, reference), shapes)
        reference = normalize_reference(aligned.mean(0))
    return reference


def fit_transforms(landmarks: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-frame frame->canonical similarity from the stable points. (T, 68, 2) -> (T, 2, 3)."""
    out = np.empty((len(landmarks), 2, 3), dtype=np.float64)
    for i, shape in enumerate(landmarks):
        if np.isfinite(shape).all():
            out[i] = estimate_similarity(shape[STABLE], reference[STABLE])
        else:
            out[i] = np.nan
    return out


def lower_face_canonical(landmarks: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """Lower-face points (lower jaw + lips) in canonical coordinates. Returns (T, P, 2)."""
    return apply_transform(transforms, landmarks[:, LOWER_FACE])


def replace_lower_face(landmarks: np.ndarray, transform: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Put a canonical lower-face shape (P, 2) into a frame with landmarks (68, 2).

    ``transform`` is that frame's frame->canonical similarity; the lower face is
    mapped back with its inverse, the rest of the face (pose, eyes, brows) is kept.
    """
    out = np.array(landmarks, dtype=np.float64, copy=True)
    out[LOWER_FACE] = apply_transform(invert_transform(transform), lower)
    return out

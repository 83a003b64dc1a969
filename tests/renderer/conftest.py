"""A tiny synthetic speaker cache with the real cache's files, for tests without footage.

The face is drawn from its own 68 landmarks (skin ellipse, eyes, brows, nose,
lips whose opening follows a smooth function of time), so face map and crop
agree the way dlib landmarks and real crops do, and a renderer can learn it.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from landmarks import indices as ix
from landmarks.cache import FORMAT_VERSION
from landmarks.crop import extract_crop
from landmarks.facemap import FaceMapParams, canny_edges

REPO = Path(__file__).resolve().parents[2]
CONF_DIR = REPO / "conf"
SHARED_DATA = REPO / ".." / "shared" / "data"


def unit_face(opening: float) -> np.ndarray:
    """(68, 2) landmarks of a frontal face, unit scale (jaw half-width 1), y down."""
    pts = np.zeros((68, 2))
    phi = np.pi * np.arange(17) / 16
    pts[ix.JAW] = np.stack([-np.cos(phi), 0.2 + (1.0 + 0.5 * opening) * np.sin(phi)], 1)
    for brow, x0 in ((ix.RIGHT_BROW, -0.8), (ix.LEFT_BROW, 0.15)):
        x = np.linspace(x0, x0 + 0.65, 5)
        pts[brow] = np.stack([x, -0.55 - 0.08 * np.sin(np.linspace(0, np.pi, 5))], 1)
    pts[ix.NOSE_BRIDGE] = np.stack([np.zeros(4), np.linspace(-0.35, 0.15, 4)], 1)
    pts[ix.NOSE_BOTTOM] = np.stack([np.linspace(-0.2, 0.2, 5), [0.3, 0.33, 0.35, 0.33, 0.3]], 1)
    ang6 = np.pi + 2 * np.pi * np.arange(6) / 6  # eye contour from the outer corner, clockwise
    for eye, cx in ((ix.RIGHT_EYE, -0.45), (ix.LEFT_EYE, 0.45)):
        pts[eye] = np.stack([cx + 0.18 * np.cos(ang6), -0.3 + 0.07 * np.sin(ang6)], 1)
    ang12 = np.pi + 2 * np.pi * np.arange(12) / 12
    pts[ix.OUTER_LIPS] = np.stack(
        [0.4 * np.cos(ang12), 0.7 + (0.1 + opening / 2) * np.sin(ang12)], 1
    )
    ang8 = np.pi + 2 * np.pi * np.arange(8) / 8
    pts[ix.INNER_LIPS] = np.stack(
        [0.3 * np.cos(ang8), 0.7 + (0.01 + opening / 2) * np.sin(ang8)], 1
    )
    return pts


def draw_face(lm: np.ndarray, size: int, texture: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 RGB crop of a face with landmarks ``lm`` (68, 2) in crop pixels."""
    img = texture.copy()
    centre = lm[ix.NOSE_BRIDGE[-1]]
    half_w = np.ptp(lm[ix.JAW, 0]) / 2
    axes = (int(half_w), int(np.ptp(lm[:, 1]) * 0.62))
    cv2.ellipse(
        img, (int(centre[0]), int(centre[1] - 0.05 * size)), axes, 0, 0, 360, (225, 180, 150), -1
    )
    cv2.fillPoly(img, [np.rint(lm[ix.JAW]).astype(np.int32)], (215, 168, 140))
    for eye in (ix.RIGHT_EYE, ix.LEFT_EYE):
        cv2.fillPoly(img, [np.rint(lm[eye]).astype(np.int32)], (60, 40, 30))
    for brow in (ix.RIGHT_BROW, ix.LEFT_BROW):
        cv2.polylines(
            img, [np.rint(lm[brow]).astype(np.int32)], False, (90, 60, 40), max(1, size // 40)
        )
    cv2.polylines(img, [np.rint(lm[ix.NOSE_BOTTOM]).astype(np.int32)], False, (170, 120, 100), 1)
    cv2.fillPoly(img, [np.rint(lm[ix.OUTER_LIPS]).astype(np.int32)], (190, 70, 80))
    cv2.fillPoly(img, [np.rint(lm[ix.INNER_LIPS]).astype(np.int32)], (50, 15, 20))
    return img


def write_lossless_video(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    """FFV1 in Matroska: the footage behind a fake cache, decoded back bit for bit."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "bgr0"
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_fake_cache(
    root: Path, size: int = 64, n_frames: int = 60, fps: float = 25.0, invalid: tuple[int, ...] = ()
) -> Path:
    """Write a speaker cache directory (format version 1) and return its path."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    params = FaceMapParams(size=size, line_width=1, canny_blur=3)
    t = np.arange(n_frames) / fps
    opening = (
        0.25
        * (0.5 + 0.5 * np.sin(2 * np.pi * 1.3 * t))
        * (0.6 + 0.4 * np.sin(2 * np.pi * 0.31 * t))
    )
    frame_w, frame_h = 3 * size, 2 * size
    side = 1.0 * size
    boxes = np.stack(
        [frame_w / 2 + 2 * np.sin(t), frame_h / 2 + 1.5 * np.cos(0.7 * t), np.full(n_frames, side)],
        1,
    ).astype(np.float32)
    unit = np.stack([unit_face(o) for o in opening])
    landmarks = (boxes[:, None, :2] + unit * side / 3.4).astype(np.float32)
    valid = np.ones(n_frames, bool)
    valid[list(invalid)] = False
    texture = (
        (np.array([70, 90, 120]) + rng.normal(0, 6, (size, size, 3))).clip(0, 255).astype(np.uint8)
    )
    background = cv2.resize(texture, (frame_w, frame_h), interpolation=cv2.INTER_NEAREST)
    crops = np.empty((n_frames, size, size, 3), np.uint8)
    edges = np.empty((n_frames, size * size // 8), np.uint8)
    frames = []
    for i in range(n_frames):
        # The face is drawn in the full frame and cut out, as prepare cuts crops from footage.
        frames.append(draw_face(landmarks[i], size, background))
        crops[i] = extract_crop(frames[i], boxes[i], size)
        edges[i] = np.packbits(canny_edges(crops[i], params).reshape(-1))
    video = write_lossless_video(root / "source.mkv", frames, fps)
    lower = unit[:, ix.LOWER_FACE]
    np.savez(
        root / "landmarks.npz",
        timestamps=t,
        landmarks=landmarks,
        raw_landmarks=landmarks,
        detected=valid,
        valid=valid,
        transforms=np.tile(np.eye(2, 3), (n_frames, 1, 1)),
        reference=unit.mean(0),
        crop_boxes=boxes,
    )
    flat = lower.reshape(n_frames, -1)
    mean = flat.mean(0)
    comp = np.linalg.svd(flat - mean, full_matrices=False)[2][:2]
    np.savez(
        root / "pca.npz",
        mean=mean.astype(np.float32),
        components=comp.astype(np.float32),
        explained_variance_ratio=np.array([0.9, 0.1], np.float32),
        coeffs=((flat - mean) @ comp.T).astype(np.float32),
        lower_face=ix.LOWER_FACE,
        shapes=lower.astype(np.float32),
    )
    audio = (0.3 * np.sin(2 * np.pi * 220 * np.arange(int(n_frames / fps * 16000)) / 16000)).astype(
        np.float32
    )
    np.save(root / "audio_16k.npy", audio)
    np.save(root / "crops.npy", crops)
    np.save(root / "edges.npy", edges)
    (root / "report.json").write_text("{}")
    meta = {
        "format_version": FORMAT_VERSION,
        "fps": fps,
        "n_frames": n_frames,
        "crop_size": size,
        "frame_size": [frame_h, frame_w],
        "face_map": params.to_dict(),
        "speaker": root.name,
        "source": {"video": str(video)},
    }
    (root / "meta.json").write_text(json.dumps(meta))
    return root


@pytest.fixture
def fake_cache(tmp_path: Path):
    """Factory: ``fake_cache(size=64, n_frames=60, ...)`` -> path of a fresh cache."""
    counter = iter(range(1000))

    def factory(**kwargs) -> Path:
        return make_fake_cache(tmp_path / f"fake-{next(counter)}", **kwargs)

    return factory


@pytest.fixture
def compose_cfg(tmp_path: Path):
    """Compose ``renderer_train`` with overrides, output under tmp_path, tiny CPU settings."""
    from hydra import compose, initialize_config_dir

    def factory(overrides: list[str]):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(
                "renderer_train",
                overrides=[
                    f"paths.output_dir={tmp_path / 'run'}",
                    "trainer.enable_progress_bar=false",
                    "logger=csv",
                    *overrides,
                ],
            )

    return factory

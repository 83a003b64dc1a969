"""The built-in synthetic anchor: a real face whose mouth follows generated speech.

The public-domain astronaut portrait shipped with scikit-image is the face.
Per frame, the lower lip and jaw are displaced downwards by a smooth warp whose
size is the mouth opening of :mod:`landmarks.synthetic_audio` (a known function
of the audio), the inner mouth is painted dark, and a small head motion is
added. The ground-truth landmarks are the dlib landmarks of the still portrait
moved by the same warp and motion, so every stage has an answer to check.

    lipsync-sample out_dir=cache/sample duration_s=40
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from landmarks import indices as ix
from landmarks.alignment import apply_transform
from landmarks.detect import DetectParams, FaceTracker
from landmarks.errors import LipsyncError, exit_on_user_error
from landmarks.synthetic_audio import mouth_opening_from_audio, speech_like
from landmarks.timebase import n_frames_for_duration
from landmarks.writer import VideoWriter

SIZE = 256  # frame side, pixels
FPS = 25.0
AUDIO_RATE = 16_000


def base_portrait() -> tuple[np.ndarray, np.ndarray]:
    """The still face (SIZE, SIZE, 3) RGB and its (68, 2) landmarks in its pixels."""
    photo = data.astronaut()
    x0, y0, side = 126, 35, 200  # a square around the face in the 512 px photo
    face = cv2.resize(photo[y0 : y0 + side, x0 : x0 + side], (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    points = FaceTracker(DetectParams(), FPS).update(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY))
    if points is None:
        raise LipsyncError("dlib found no face in the sample portrait")
    return face, points.astype(np.float64)


class MouthWarp:
    """Smooth downward displacement of everything below the lip line, in pixels."""

    def __init__(self, points: np.ndarray):
        self.lip_line = (points[ix.INNER_UPPER_MID, 1] + points[ix.INNER_LOWER_MID, 1]) / 2
        self.chin = points[8, 1]
        self.centre_x = points[[48, 54], 0].mean()
        self.half_width = (points[13, 0] - points[3, 0]) / 2
        self.max_drop = 0.25 * (points[54, 0] - points[48, 0])
        self.mouth_half_width = (points[54, 0] - points[48, 0]) / 2
        self.face_height = points[8, 1] - points[27, 1]
        ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
        self.grid = (xs, ys)
        self.field = self.weight(xs, ys).astype(np.float32)

    def weight(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        below = 1 / (1 + np.exp(-(y - self.lip_line) / 1.5))
        under_chin = np.maximum(0, y - self.chin)
        fade = np.exp(-0.5 * (under_chin / (0.2 * self.face_height)) ** 2)
        across = np.exp(-(((x - self.centre_x) / (1.1 * self.half_width)) ** 4))
        return below * fade * across

    def frame(self, face: np.ndarray, opening: float) -> np.ndarray:
        """Warp ``face`` for an opening in [0, 1] and darken the gap that opens between the lips."""
        xs, ys = self.grid
        drop = np.float32(opening * self.max_drop)
        out = cv2.remap(face, xs, (ys - drop * self.field).astype(np.float32), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT)
        # The gap is an ellipse-like band under the lip line, widest mid-mouth, zero at the corners.
        profile = np.sqrt(np.clip(1 - ((xs - self.centre_x) / self.mouth_half_width) ** 2, 0, 1))
        depth = np.clip((self.lip_line + drop * profile - ys) / 1.0, 0, 1) * (ys > self.lip_line - 0.5)
        alpha = cv2.GaussianBlur(depth.astype(np.float32), (3, 3), 0)[..., None]
        return (out * (1 - alpha) + np.array([60, 25, 30], np.float32) * alpha).astype(np.uint8)

    def points(self, points: np.ndarray, opening: float) -> np.ndarray:
        moved = points.copy()
        moved[:, 1] += opening * self.max_drop * self.weight(points[:, 0], points[:, 1])
        return moved


def head_motion(t: float) -> np.ndarray:
    """(2, 3) small similarity motion at time ``t`` s: +-1.5 deg roll, +-3 px shift, +-1 % scale."""
    angle = 1.5 * np.sin(2 * np.pi * 0.11 * t)
    scale = 1 + 0.01 * np.sin(2 * np.pi * 0.07 * t)
    matrix = cv2.getRotationMatrix2D((SIZE / 2, SIZE / 2), angle, scale)
    matrix[:, 2] += [3 * np.sin(2 * np.pi * 0.05 * t), 2 * np.sin(2 * np.pi * 0.08 * t + 1)]
    return matrix


def make_sample(out_dir: str | Path, duration_s: float = 40.0, seed: int = 0) -> Path:
    """Write ``sample_anchor.mp4`` (H.264 + AAC) and ``sample_anchor_truth.npz`` into ``out_dir``.

    The truth file holds timestamps (T,) s, landmarks (T, 68, 2) px, opening (T,) in [0, 1],
    and the audio (N,) float32 at 16 kHz. Returns the video path.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    audio = speech_like(duration_s, AUDIO_RATE, seed)
    n_frames = n_frames_for_duration(len(audio) / AUDIO_RATE, FPS)  # what the writer takes
    opening = mouth_opening_from_audio(audio, FPS, n_frames, AUDIO_RATE)
    face, points = base_portrait()
    warp = MouthWarp(points)
    truth = np.zeros((n_frames, 68, 2), np.float32)
    video = out_dir / "sample_anchor.mp4"
    with VideoWriter(video, FPS, audio, AUDIO_RATE, crf=16) as writer:
        for i in range(n_frames):
            moved = warp.points(points, opening[i])
            frame = warp.frame(face, opening[i])
            motion = head_motion(i / FPS)
            frame = cv2.warpAffine(frame, motion, (SIZE, SIZE), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)
            truth[i] = apply_transform(motion, moved)
            writer.write(frame)
    np.savez(out_dir / "sample_anchor_truth.npz", timestamps=np.arange(n_frames) / FPS, landmarks=truth,
             opening=opening, audio=audio)
    (out_dir / "sample_anchor.json").write_text(json.dumps(
        {"fps": FPS, "frames": n_frames, "duration_s": duration_s, "seed": seed, "size": SIZE,
         "max_drop_px": float(warp.max_drop)}, indent=2))
    return video


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    """``lipsync-sample [out_dir=cache/sample] [duration_s=40] [seed=0]``."""
    args = dict(arg.split("=", 1) for arg in (sys.argv[1:] if argv is None else argv))
    unknown = set(args) - {"out_dir", "duration_s", "seed"}
    if unknown:
        raise LipsyncError(f"unknown argument(s) {sorted(unknown)}; use out_dir=, duration_s=, seed=")
    path = make_sample(args.get("out_dir", "cache/sample"), float(args.get("duration_s", 40)),
                       int(args.get("seed", 0)))
    print(f"synthetic anchor: {path}")


if __name__ == "__main__":
    main()

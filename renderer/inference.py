"""Inference: face maps -> rendered crops -> frames with the lower face replaced.

The end-to-end ``speak`` command calls, per template frame: draw the face map
from the new landmarks (``landmarks.facemap.draw_face_map``), then

    renderer = load_renderer(run_dir, crop_size=cache.crop_size)
    frames_out = render_and_paste(renderer, template_frames, face_maps, boxes, masks, valid,
                                  references=template_crops)

and streams ``frames_out`` into :class:`renderer.video.VideoWriter`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from landmarks.errors import LipsyncError
from landmarks.facemap import FaceMapParams, lower_face_mask
from renderer.bundle import load_generator
from renderer.components import make_input, to_uint8
from renderer.paste import feather_mask, paste_back


class NeuralRenderer:
    """A loaded generator: ``render`` maps (B, S, S, 3) uint8 face maps to (B, S, S, 3) crops."""

    def __init__(
        self,
        generator: torch.nn.Module,
        config: dict,
        device: str | torch.device = "cpu",
        batch_size: int = 16,
    ):
        # NHWC: oneDNN's channels-last convolutions are several times faster on CPU.
        self.generator = generator.eval().to(memory_format=torch.channels_last)
        self.config = config
        self.crop_size = int(config["crop_size"])
        self.use_reference = bool(config["use_reference"])
        self.face_map_params = FaceMapParams.from_dict(
            config.get("face_map", {"size": self.crop_size})
        )
        self.device = torch.device(device)
        self.batch_size = batch_size

    def _check(self, name: str, images: np.ndarray, channels: int | None) -> None:
        s = self.crop_size
        expected = (s, s) if channels is None else (s, s, channels)
        if images.ndim != len(expected) + 1 or images.shape[1:] != expected:
            raise LipsyncError(
                f"{name} are {images.shape}, the renderer expects "
                f"(B, {', '.join(map(str, expected))})"
            )
        if images.dtype != np.uint8:
            raise LipsyncError(f"{name} must be uint8, got {images.dtype}")

    def _tensor(self, images: np.ndarray) -> torch.Tensor:
        """(B, S, S, C) -> (B, C, S, S) and (B, S, S) -> (B, 1, S, S) on the device."""
        t = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
        return t.permute(0, 3, 1, 2) if t.ndim == 4 else t[:, None]

    @torch.inference_mode()
    def render(
        self,
        face_maps: np.ndarray,
        references: np.ndarray | None = None,
        lower_masks: np.ndarray | None = None,
    ) -> np.ndarray:
        """Rendered crops (B, S, S, 3) uint8 RGB.

        With reference conditioning, ``references`` are the template crops
        (B, S, S, 3) uint8 and ``lower_masks`` (B, S, S) {0, 1} the region to blank
        (see :func:`reference_mask`).
        """
        self._check("face maps", face_maps, 3)
        if self.use_reference:
            if references is None or lower_masks is None:
                raise LipsyncError(
                    "this renderer is conditioned on reference crops; pass references and masks"
                )
            self._check("reference crops", references, 3)
            self._check("lower-face masks", lower_masks, None)
        out = np.empty_like(face_maps)
        for start in range(0, len(face_maps), self.batch_size):
            part = slice(start, start + self.batch_size)
            x = make_input(
                self._tensor(face_maps[part]),
                self._tensor(references[part]) if self.use_reference else None,
                self._tensor(lower_masks[part]) if self.use_reference else None,
                self.use_reference,
            ).contiguous(memory_format=torch.channels_last)
            out[part] = to_uint8(self.generator(x)).permute(0, 2, 3, 1).cpu().numpy()
        return out


def load_renderer(
    run_dir: str | Path,
    crop_size: int | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 16,
) -> NeuralRenderer:
    """Load a trained renderer run directory; ``crop_size`` must match the checkpoint's if given."""
    generator, config = load_generator(run_dir, crop_size, device)
    return NeuralRenderer(generator, config, device, batch_size)


def reference_mask(
    template_landmarks: np.ndarray, new_landmarks: np.ndarray, params: FaceMapParams
) -> np.ndarray:
    """(S, S) uint8 region blanked out of the reference: both lower faces, template and new.

    Landmarks are (68, 2) crop pixels. The union matters: when the new mouth
    opens wider than the template's, its jaw must not be painted from the
    template's closed one.
    """
    return lower_face_mask(template_landmarks, params) | lower_face_mask(new_landmarks, params)


def render_and_paste(
    renderer: NeuralRenderer,
    frames: Iterable[np.ndarray],
    face_maps: np.ndarray,
    boxes: np.ndarray,
    masks: np.ndarray,
    valid: np.ndarray,
    references: np.ndarray | None = None,
    colour_match: bool = True,
    feather: float = 0.04,
) -> Iterator[np.ndarray]:
    """Yield T output frames (H, W, 3) uint8: the template frames with the rendered lower face.

    ``face_maps`` (T, S, S, 3) uint8, ``boxes`` (T, 3) crop boxes in frame pixels,
    ``masks`` (T, S, S) {0, 1} lower-face masks (paste region and, with
    reference conditioning, the blanked region), ``valid`` (T,) bool: frames
    without a face are passed through untouched. ``frames`` is consumed lazily,
    one batch at a time; fewer than T template frames raise :class:`LipsyncError`.
    """
    total = len(face_maps)
    if not (len(boxes) == len(masks) == len(valid) == total):
        raise LipsyncError("face maps, boxes, masks and valid flags must have the same length")
    it = iter(frames)
    step = renderer.batch_size
    for start in range(0, total, step):
        part = slice(start, min(start + step, total))
        batch = []
        for t in range(part.start, part.stop):
            frame = next(it, None)
            if frame is None:
                raise LipsyncError(f"the template has {t} frames, the output needs {total}")
            batch.append(frame)
        todo = np.flatnonzero(valid[part])
        crops = None
        if len(todo):
            refs = references[part][todo] if references is not None else None
            crops = renderer.render(face_maps[part][todo], refs, masks[part][todo])
        k = 0
        for j, frame in enumerate(batch):
            if not valid[start + j]:
                yield frame  # no face: the template frame as it is
                continue
            alpha = feather_mask(masks[start + j], feather)
            yield paste_back(frame, crops[k], boxes[start + j], alpha, colour_match)
            k += 1

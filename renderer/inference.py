"""Inference: new landmarks + template frames -> frames with the lower face replaced.

The end-to-end ``speak`` command calls

    renderer = load_renderer(run_dir, crop_size=cache.crop_size)
    frames_out = render_and_paste(renderer, template_frames, crop_boxes, template_landmarks,
                                  new_landmarks, valid)

and streams ``frames_out`` into the video writer. Per frame, the renderer cuts
its render box (:mod:`renderer.render_box`) from the full-resolution template
frame, draws the face map there from the new landmarks (the one shared
``draw_face_map``), picks this speaker's nearest training mouth from its
reference bank (when it has one), paints the box and pastes its lower face back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from landmarks.crop import extract_crop, frame_to_crop
from landmarks.errors import LipsyncError
from landmarks.facemap import FaceMapParams, canny_edges, draw_face_map, lower_face_mask
from renderer.bundle import load_generator
from renderer.components import fold_batch_norms, make_input, to_uint8
from renderer.detail_transfer import checked_gain, checked_neighbours, transfer_detail
from renderer.paste import feather_mask, paste_back
from renderer.reference_bank import ReferenceBank, lip_descriptors
from renderer.render_box import RenderBox


class NeuralRenderer:
    """A loaded generator: ``render`` maps (B, S, S, 3) uint8 face maps to (B, S, S, 3) crops."""

    def __init__(
        self,
        generator: torch.nn.Module,
        config: dict,
        device: str | torch.device = "cpu",
        batch_size: int = 16,
        bank: ReferenceBank | None = None,
    ):
        # Batch norms folded into their convolutions (in place: the generator is for inference
        # from here on); NHWC: oneDNN's channels-last convolutions are several times faster on CPU.
        fold_batch_norms(generator.eval())
        self.generator = generator.to(memory_format=torch.channels_last)
        self.config = config
        self.crop_size = int(config["crop_size"])
        self.use_reference = bool(config["use_reference"])
        face_params = FaceMapParams.from_dict(config.get("face_map", {"size": self.crop_size}))
        box = config.get("render_box")
        self.box = RenderBox.from_dict(box) if box else RenderBox.whole_crop(face_params.size)
        self.face_map_params = self.box.face_map_params(face_params)  # drawing at the render box
        self.bank = bank
        if bool(config.get("mouth_reference")) and bank is None:
            raise LipsyncError("this renderer is conditioned on a reference bank; none was given")
        # renderers trained before the option existed saw their bank crops unwarped
        self.warp_reference = bool(config.get("warp_reference", False))
        if self.warp_reference and bank is not None and bank.landmarks is None:
            raise LipsyncError("this renderer warps its reference crops, but its bank has no landmarks")
        # renderers exported before the option existed were measured without it: 0
        self.detail_transfer = checked_gain(config.get("detail_transfer", 0.0)) if bank is not None else 0.0
        if self.detail_transfer and bank.landmarks is None:
            raise LipsyncError("this renderer takes fine detail from its warped bank crops, but its bank has "
                               "no landmarks (saved before they were kept); set detail_transfer: 0 in its "
                               "renderer.yaml or train it again")
        # renderers exported before the option existed took the detail of the one chosen crop
        self.detail_neighbours = checked_neighbours(config.get("detail_neighbours", 1))
        self.device = torch.device(device)
        self.batch_size = batch_size

    def mouth_references(self, chosen: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Bank crops ``chosen`` (T,) for frames whose new landmarks are (T, 68, 2) box px:
        (the network's input, warped onto them when this renderer was trained so; the crops
        warped onto them for :func:`renderer.detail_transfer.transfer_detail`, None when it is off),
        each (T, S, S, 3) uint8. With ``detail_neighbours`` K > 1 the detail comes from the mean of
        the K bank crops nearest each frame's lip shape, each warped onto it: the lip lines and teeth
        edges they share add up where the landmarks put them, a texture only one of them has fades."""
        single = self.detail_transfer and self.detail_neighbours == 1
        warped = self.bank.references(chosen, landmarks) if self.warp_reference or single else None
        inputs = warped if self.warp_reference else self.bank.references(chosen)
        if not self.detail_transfer:
            return inputs, None
        if single:
            return inputs, warped
        near = self.bank.nearest_k(lip_descriptors(landmarks, self.box.size), self.detail_neighbours)
        return inputs, self.bank.mean_references(near, landmarks)

    def frame_box(self, crop_box: np.ndarray) -> np.ndarray:
        """(3,) render box in frame px for a face crop box (cx, cy, side) in frame px."""
        return self.box.frame_boxes(np.asarray(crop_box)[None])[0]

    def paste_weight(self, mask: np.ndarray, feather: float = 0.04) -> np.ndarray:
        """(S, S) float32 paste weight of a lower-face mask; ``feather`` in face-crop units."""
        return feather_mask(mask, feather * self.box.face_size / self.box.side, self.box.edge_px)

    def _check(self, name: str, images: np.ndarray, channels: int | None) -> None:
        s = self.box.size
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
        mouth_refs: np.ndarray | None = None,
        detail_refs: np.ndarray | None = None,
    ) -> np.ndarray:
        """Rendered crops (B, S, S, 3) uint8 RGB.

        With reference conditioning, ``references`` are the template crops
        (B, S, S, 3) uint8 and ``lower_masks`` (B, S, S) {0, 1} the region to blank
        (see :func:`reference_mask`). A renderer with a reference bank also needs
        ``mouth_refs`` (B, S, S, 3) uint8, the bank crops chosen for these frames, and,
        when its ``detail_transfer`` is on, ``detail_refs``: the same crops warped onto
        the frames' landmarks (both from :meth:`mouth_references`).
        """
        self._check("face maps", face_maps, 3)
        if self.use_reference:
            if references is None or lower_masks is None:
                raise LipsyncError(
                    "this renderer is conditioned on reference crops; pass references and masks"
                )
            self._check("reference crops", references, 3)
            self._check("lower-face masks", lower_masks, None)
        if self.bank is not None:
            if mouth_refs is None:
                raise LipsyncError("this renderer needs mouth reference crops from its bank")
            self._check("mouth references", mouth_refs, 3)
        if self.detail_transfer:
            if detail_refs is None:
                raise LipsyncError("this renderer takes fine detail from warped bank crops; pass detail_refs")
            self._check("detail references", detail_refs, 3)
        out = np.empty_like(face_maps)
        for start in range(0, len(face_maps), self.batch_size):
            part = slice(start, start + self.batch_size)
            x = make_input(
                self._tensor(face_maps[part]),
                self._tensor(references[part]) if self.use_reference else None,
                self._tensor(lower_masks[part]) if self.use_reference else None,
                self.use_reference,
                self._tensor(mouth_refs[part]) if self.bank is not None else None,
            ).contiguous(memory_format=torch.channels_last)
            out[part] = to_uint8(self.generator(x)).permute(0, 2, 3, 1).cpu().numpy()
        return transfer_detail(out, detail_refs, self.detail_transfer) if self.detail_transfer else out


def load_renderer(
    run_dir: str | Path,
    crop_size: int | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 16,
    detail_transfer: float | None = None,
    detail_neighbours: int | None = None,
) -> NeuralRenderer:
    """Load a trained renderer run directory; ``crop_size`` must match the checkpoint's if given.
    ``detail_transfer``, ``detail_neighbours``: a gain and a number of bank crops in place of
    those the renderer was exported with (None: its own)."""
    generator, config = load_generator(run_dir, crop_size, device)
    if detail_transfer is not None:
        config = {**config, "detail_transfer": detail_transfer}  # checked by NeuralRenderer
    if detail_neighbours is not None:
        config = {**config, "detail_neighbours": detail_neighbours}
    bank = ReferenceBank.load(run_dir) if config.get("mouth_reference") else None
    return NeuralRenderer(generator, config, device, batch_size, bank)


def reference_mask(
    template_landmarks: np.ndarray, new_landmarks: np.ndarray, params: FaceMapParams
) -> np.ndarray:
    """(S, S) uint8 region blanked out of the reference: both lower faces, template and new.

    Landmarks are (68, 2) crop pixels. The union matters: when the new mouth
    opens wider than the template's, its jaw must not be painted from the
    template's closed one.
    """
    return lower_face_mask(template_landmarks, params) | lower_face_mask(new_landmarks, params)


@dataclass
class FrameInputs:
    """What the renderer needs of one frame, at its render box (S = the box's size)."""

    box: np.ndarray  # (3,) render box (cx, cy, side) in frame px
    reference: np.ndarray  # (S, S, 3) uint8 template crop
    face_map: np.ndarray  # (S, S, 3) uint8, drawn from the new landmarks and the template's edges
    mask: np.ndarray  # (S, S) {0, 1}: blanked from the reference and pasted back
    lips: np.ndarray  # (40,) lip descriptor of the new landmarks (reference bank key)
    landmarks: np.ndarray  # (68, 2) the new landmarks in box px


def paste_region(renderer: NeuralRenderer, crop_box: np.ndarray, template_landmarks: np.ndarray,
                 new_landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(render box (3,) in frame px, (S, S) {0, 1} mask, new landmarks (68, 2) in box px) of one frame.

    Landmarks come in frame px; the mask is both lower faces (:func:`reference_mask`).
    """
    box, size = renderer.frame_box(crop_box), renderer.box.size
    template, new = frame_to_crop(template_landmarks, box, size), frame_to_crop(new_landmarks, box, size)
    return box, reference_mask(template, new, renderer.face_map_params), new


def frame_inputs(renderer: NeuralRenderer, frame: np.ndarray, crop_box: np.ndarray,
                 template_landmarks: np.ndarray, new_landmarks: np.ndarray) -> FrameInputs:
    """Render-box inputs of one (H, W, 3) template frame; landmarks (68, 2) in frame px."""
    box, mask, new = paste_region(renderer, crop_box, template_landmarks, new_landmarks)
    size, params = renderer.box.size, renderer.face_map_params
    reference = extract_crop(frame, box, size)
    face_map = draw_face_map(new, canny_edges(reference, params), params)
    return FrameInputs(box, reference, face_map, mask, lip_descriptors(new[None], size)[0], new)


@dataclass
class RenderedFrame:
    """A template frame and, when it has a face, its painted render box, before paste-back."""

    frame: np.ndarray  # (H, W, 3) uint8 template frame
    crop: np.ndarray | None = None  # (S, S, 3) uint8 painted box; None: no face, the frame passes through
    box: np.ndarray | None = None  # (3,) render box (cx, cy, side) in frame px
    mask: np.ndarray | None = None  # (S, S) {0, 1} region pasted back


def render_boxes(
    renderer: NeuralRenderer,
    frames: Iterable[np.ndarray],
    crop_boxes: np.ndarray,
    template_landmarks: np.ndarray,
    new_landmarks: np.ndarray,
    valid: np.ndarray,
    timings: dict[str, float] | None = None,
    batch_size: int | None = None,
) -> Iterator[RenderedFrame]:
    """Yield T :class:`RenderedFrame`: each template frame with its render box painted.

    ``crop_boxes`` (T, 3) the template's face crop boxes, ``template_landmarks`` and
    ``new_landmarks`` (T, 68, 2) in frame px (the template's own and the ones to draw),
    ``valid`` (T,) bool: frames without a face are passed through untouched. ``frames``
    is consumed lazily, one batch at a time; fewer than T template frames raise
    :class:`LipsyncError`. ``timings`` (optional) accumulates seconds under face_maps and
    render. ``batch_size``: frames taken from ``frames`` at a time (default: the renderer's).
    """
    total = len(crop_boxes)
    if not (len(template_landmarks) == len(new_landmarks) == len(valid) == total):
        raise LipsyncError("crop boxes, landmarks and valid flags must have the same length")
    timings = timings if timings is not None else {}
    for key in ("face_maps", "render"):
        timings.setdefault(key, 0.0)
    it = iter(frames)
    current_ref = None  # the reference bank's choice carries over between batches
    step = batch_size or renderer.batch_size
    for start in range(0, total, step):
        stop = min(start + step, total)
        batch = []
        for t in range(start, stop):
            frame = next(it, None)
            if frame is None:
                raise LipsyncError(f"the template has {t} frames, the output needs {total}")
            batch.append(frame)
        tick = time.perf_counter()
        inputs = {j: frame_inputs(renderer, batch[j], crop_boxes[start + j], template_landmarks[start + j],
                                  new_landmarks[start + j]) for j in range(len(batch)) if valid[start + j]}
        crops, mouth_refs, detail_refs = {}, None, None
        if inputs and renderer.bank is not None:
            lips = np.stack([x.lips for x in inputs.values()])
            chosen = renderer.bank.sequence(lips, current=current_ref)
            current_ref = int(chosen[-1])
            targets = np.stack([x.landmarks for x in inputs.values()])
            mouth_refs, detail_refs = renderer.mouth_references(chosen, targets)
        timings["face_maps"] += time.perf_counter() - tick
        tick = time.perf_counter()
        if inputs:
            todo = list(inputs.values())
            out = renderer.render(np.stack([x.face_map for x in todo]), np.stack([x.reference for x in todo]),
                                  np.stack([x.mask for x in todo]), mouth_refs, detail_refs)
            crops = dict(zip(inputs, out, strict=True))
        timings["render"] += time.perf_counter() - tick
        for j, frame in enumerate(batch):
            x = inputs.get(j)
            yield RenderedFrame(frame) if x is None else RenderedFrame(frame, crops[j], x.box, x.mask)


def paste_rendered(renderer: NeuralRenderer, rendered: RenderedFrame, colour_match: bool = True,
                   feather: float = 0.04, timings: dict[str, float] | None = None) -> np.ndarray:
    """(H, W, 3) uint8 output frame: the painted box pasted back through the feathered mask.

    ``feather`` is in face-crop units (scaled to the render box); ``timings`` (optional)
    accumulates seconds under paste.
    """
    if rendered.crop is None:
        return rendered.frame  # no face: the template frame as it is
    tick = time.perf_counter()
    alpha = renderer.paste_weight(rendered.mask, feather)
    pasted = paste_back(rendered.frame, rendered.crop, rendered.box, alpha, colour_match)
    if timings is not None:
        timings["paste"] = timings.get("paste", 0.0) + time.perf_counter() - tick
    return pasted


def render_and_paste(
    renderer: NeuralRenderer,
    frames: Iterable[np.ndarray],
    crop_boxes: np.ndarray,
    template_landmarks: np.ndarray,
    new_landmarks: np.ndarray,
    valid: np.ndarray,
    colour_match: bool = True,
    feather: float = 0.04,
    timings: dict[str, float] | None = None,
    batch_size: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield T output frames (H, W, 3) uint8: the template frames with the rendered lower face.

    :func:`render_boxes` then :func:`paste_rendered` per frame (arguments as there);
    ``timings`` accumulates seconds under face_maps, render and paste.
    """
    timings = timings if timings is not None else {}
    timings.setdefault("paste", 0.0)
    for rendered in render_boxes(renderer, frames, crop_boxes, template_landmarks, new_landmarks, valid,
                                 timings, batch_size):
        yield paste_rendered(renderer, rendered, colour_match, feather, timings)

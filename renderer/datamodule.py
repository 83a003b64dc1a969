"""(face map, crop) pairs from a speaker cache, split by a held-out time block.

Every valid frame gives one pair at the render box (:mod:`renderer.render_box`):
the face map drawn by the one shared function (``draw_face_map``, the frame's
own landmarks and edges) and the frame's crop. Two masks travel with each pair, both (1, S, S) uint8:
``lower_mask`` (the region speech moves, masked out of the reference input) and
``mouth_mask`` (the lips, weighted up in the L1 loss).

The last ``val_fraction`` of the timeline is held out; ``gap_s`` seconds before
it are dropped so neighbouring, nearly identical frames do not leak across.
"""

from __future__ import annotations

import glob
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from landmarks import indices as ix
from landmarks.cache import SpeakerCache
from landmarks.errors import LipsyncError
from renderer.reference_bank import ReferenceBank, farthest_points, lip_descriptors
from renderer.render_box import RenderBox, choose_render_size
from renderer.render_source import RenderSource

log = logging.getLogger(__name__)


def resolve_cache(
    pattern: str | Path, crop_size: int | None = None, speaker: str | None = None
) -> Path:
    """A cache directory from a path or a glob (``cache/lieu-*``).

    With ``speaker``, only caches whose meta.json names that speaker count
    (``sample-*`` must not pick ``sample-eval-*``). Among several matches the
    newest one prepared at ``crop_size`` wins (a speaker may have caches at
    several sizes); none at that size is reported by the caller's size check.
    """
    matches = [Path(p).parent for p in glob.glob(str(Path(pattern) / "meta.json"))]
    metas = {p: json.loads((p / "meta.json").read_text()) for p in matches}
    if speaker is not None and len(matches) > 1:
        matches = [p for p in matches if metas[p].get("speaker") == speaker] or matches
    if not matches:
        raise LipsyncError(f"no speaker cache (meta.json) at {pattern}; run lipsync-prepare first")
    if crop_size is not None and len(matches) > 1:
        matches = [p for p in matches if metas[p].get("crop_size") == crop_size] or matches
    matches.sort(key=lambda p: (p / "meta.json").stat().st_mtime)
    if len(matches) > 1:
        log.warning("%d caches match %s; using the newest, %s", len(matches), pattern, matches[-1])
    return matches[-1]


def mouth_mask(landmarks_crop: np.ndarray, size: int, dilate: float = 0.03) -> np.ndarray:
    """(S, S) uint8 {0, 1}: the outer-lip polygon grown by ``dilate`` x S pixels."""
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.rint(landmarks_crop[ix.OUTER_LIPS]).astype(np.int32)], 1)
    grow = int(round(dilate * size))
    if grow > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        mask = cv2.dilate(mask, kernel)
    return mask


def time_split(
    timestamps: np.ndarray, valid: np.ndarray, val_fraction: float, gap_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of training and held-out frames: the held-out block is the end of the timeline."""
    if not 0 < val_fraction < 1:
        raise LipsyncError(f"val_fraction must be in (0, 1), got {val_fraction}")
    t0, t1 = float(timestamps[0]), float(timestamps[-1])
    split = t1 - val_fraction * (t1 - t0)
    train = np.flatnonzero(valid & (timestamps < split - gap_s))
    val = np.flatnonzero(valid & (timestamps >= split))
    if len(train) == 0 or len(val) == 0:
        raise LipsyncError(
            f"not enough valid frames for a train/held-out split ({len(train)} / {len(val)})"
        )
    return train, val


class FacePairs(Dataset):
    """Pairs of one cache's frames at a render box, drawn once at construction.

    Items are dicts of uint8 (C, S, S) images and masks, plus the frame index;
    with a reference bank also ``mouth_ref``, the bank crop given by ``ref_index``
    (with ``warp_reference``, warped onto the frame's own landmarks, once, here: as much
    memory as the face maps, and no warping between training steps).
    ``previous_frame``: each item also carries the same keys, prefixed ``prev_``, of the
    frame just before it (for the temporal discriminator); where that frame is not in
    ``indices`` (a gap, the first frame) the item's own frame stands in: a still pair.
    """

    def __init__(self, source: RenderSource, indices: np.ndarray, mouth_dilate: float = 0.03,
                 bank: ReferenceBank | None = None, ref_index: np.ndarray | None = None,
                 previous_frame: bool = False, warp_reference: bool = False):
        size = source.box.size
        self.source, self.bank, self.ref_index = source, bank, ref_index
        self.indices = np.asarray(indices)
        self.previous = previous_positions(self.indices) if previous_frame else None
        n = len(self.indices)
        self.face_maps = np.empty((n, size, size, 3), np.uint8)
        self.lower = np.empty((n, size, size), np.uint8)
        self.mouth = np.empty((n, size, size), np.uint8)
        for j, i in enumerate(self.indices):
            lm = source.landmarks(int(i))
            self.face_maps[j] = source.face_map(int(i))
            self.lower[j] = source.lower_mask(int(i))
            self.mouth[j] = mouth_mask(lm, size, mouth_dilate)
        self.warped = None  # (N, S, S, 3) uint8 bank crops warped onto each frame's landmarks
        if bank is not None and warp_reference:
            targets = np.stack([source.landmarks(int(i)) for i in self.indices])
            self.warped = bank.references(ref_index, targets)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int) -> dict[str, torch.Tensor]:
        item = self._pair(j)
        if self.previous is not None:
            item.update({f"prev_{k}": v for k, v in self._pair(int(self.previous[j])).items()})
        return item

    def _pair(self, j: int) -> dict[str, torch.Tensor]:
        crop = self.source.crop(int(self.indices[j]))
        item = {
            "face_map": torch.from_numpy(self.face_maps[j]).permute(2, 0, 1),
            "crop": torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1),
            "lower_mask": torch.from_numpy(self.lower[j])[None],
            "mouth_mask": torch.from_numpy(self.mouth[j])[None],
            "index": torch.tensor(int(self.indices[j])),
        }
        if self.bank is not None:
            ref = self.bank.crops[int(self.ref_index[j])] if self.warped is None else self.warped[j]
            item["mouth_ref"] = torch.from_numpy(ref).permute(2, 0, 1)
        return item


def previous_positions(indices: np.ndarray) -> np.ndarray:
    """(N,) position in ``indices`` of each frame's predecessor (frame index - 1), else its own position."""
    position = {int(i): j for j, i in enumerate(indices)}
    return np.array([position.get(int(i) - 1, j) for j, i in enumerate(indices)], np.int64)


def split_lips(source: RenderSource, indices: np.ndarray) -> np.ndarray:
    """(N, 40) lip descriptors of frames ``indices`` at the render box."""
    return lip_descriptors(np.stack([source.landmarks(int(i)) for i in indices]), source.box.size)


def build_bank(source: RenderSource, train: np.ndarray, descriptors: np.ndarray, size: int) -> ReferenceBank:
    """A bank of ``size`` training frames spread over lip-shape space (``descriptors``: (N, 40) of ``train``)."""
    pick = farthest_points(descriptors, size)
    crops = np.stack([source.crop(int(train[k])) for k in pick])
    landmarks = np.stack([source.landmarks(int(train[k])) for k in pick]).astype(np.float32)
    return ReferenceBank(crops, descriptors[pick], source.cache.timestamps[train[pick]].astype(np.float32),
                         landmarks)


class RendererDataModule(pl.LightningDataModule):
    """Train / held-out pairs of one speaker cache.

    ``crop_size`` is the size the model is built for; a cache prepared at
    another size is refused (its face maps would not fit the network).
    ``max_frames`` keeps only the first frames of the cache (tests, dry runs).
    ``speaker`` narrows a glob in ``cache`` to caches of that speaker.
    ``render_box``: ``face`` (the cache's crops) or ``lower`` (a square around the lower
    face, cut from the footage at ``render_size`` px, see :mod:`renderer.render_box`).
    ``mouth_reference``: each pair also carries the bank crop (``bank_size`` training
    frames) whose lips are nearest, never one within ``exclude_s`` s of the target;
    ``warp_reference``: that crop warped onto the target's landmarks.
    ``previous_frame``: training pairs also carry the previous frame's pair (``prev_*``),
    for a temporal discriminator; held-out pairs do not need it.
    ``render_size``: px the lower box is rendered at: ``None`` (= ``crop_size``), a multiple
    of 32, or ``auto`` (the box's size in the footage, :func:`choose_render_size`).
    """

    def __init__(
        self,
        cache: str,
        crop_size: int,
        batch_size: int = 8,
        val_fraction: float = 0.2,
        gap_s: float = 0.5,
        mouth_dilate: float = 0.03,
        num_workers: int = 0,
        max_frames: int | None = None,
        val_batch_size: int = 32,
        speaker: str | None = None,
        render_box: str = "face",
        box_margin: float = 0.10,
        mouth_reference: bool = False,
        bank_size: int = 256,
        exclude_s: float = 1.0,
        warp_reference: bool = False,
        previous_frame: bool = False,
        render_size: int | str | None = None,
    ):
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.train_set: FacePairs | None = None
        self.val_set: FacePairs | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        hp = self.hparams
        self.cache_dir = resolve_cache(hp.cache, hp.crop_size, hp.speaker)
        cache = SpeakerCache(self.cache_dir)
        if cache.crop_size != hp.crop_size:
            raise LipsyncError(
                f"cache {self.cache_dir} has {cache.crop_size} px crops, the renderer config "
                f"expects {hp.crop_size} px; prepare it with the matching face_map preset"
            )
        n = cache.n_frames if hp.max_frames is None else min(cache.n_frames, int(hp.max_frames))
        train, val = time_split(cache.timestamps[:n], cache.valid[:n], hp.val_fraction, hp.gap_s)
        self.render_box = self._render_box(cache, train)
        source = RenderSource(cache, self.render_box, np.concatenate([train, val]))
        log.info(
            "renderer data: %s, %d train / %d held-out frames, render box %s",
            self.cache_dir, len(train), len(val), self.render_box,
        )
        self.bank, refs = None, {"train": None, "val": None}
        if hp.mouth_reference:
            train_lips = split_lips(source, train)
            self.bank = build_bank(source, train, train_lips, int(hp.bank_size))
            refs["train"] = self.bank.nearest(train_lips, cache.timestamps[train], hp.exclude_s)
            refs["val"] = self.bank.nearest(split_lips(source, val))  # held out: no frame of it is in the bank
        warp = bool(hp.warp_reference)
        self.train_set = FacePairs(source, train, hp.mouth_dilate, self.bank, refs["train"], hp.previous_frame, warp)
        self.val_set = FacePairs(source, val, hp.mouth_dilate, self.bank, refs["val"], warp_reference=warp)
        self.face_map_params = cache.face_map_params

    def _render_box(self, cache: SpeakerCache, train: np.ndarray) -> RenderBox:
        hp = self.hparams
        size = cache.crop_size if hp.render_size is None else hp.render_size
        if hp.render_box == "face":  # the cache's own crops: their size is the render size
            if size not in ("auto", cache.crop_size):
                raise LipsyncError("render_size other than crop_size needs render_box=lower")
            return RenderBox.whole_crop(cache.crop_size)
        if hp.render_box != "lower":
            raise LipsyncError(f"render_box must be face or lower, got {hp.render_box!r}")
        landmarks = np.stack([cache.landmarks_in_crop(int(i)) for i in train])
        box = RenderBox.fit_lower_face(landmarks, cache.crop_size, cache.crop_size, hp.box_margin)
        sides = box.frame_boxes(cache.crop_boxes[train])[:, 2]
        return box.with_size(choose_render_size(size, sides, cache.crop_size))

    def _loader(self, dataset: Dataset, batch_size: int, shuffle: bool) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            drop_last=shuffle and len(dataset) > batch_size,
            num_workers=workers,
            persistent_workers=workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.hparams.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.hparams.val_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()

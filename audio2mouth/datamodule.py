"""Data of the audio2mouth stage: feature windows from one speaker cache, split by time.

The clip is cut into three contiguous time blocks, train | val | test (the last
``test_frac`` of the clip is the test block). Training windows are cut inside
the train block only, so overlapping windows never straddle two splits. Val and
test are evaluated on their whole block as one sequence at the video frame
rate (batch size 1), which is what the metrics and the paper's tables mean.
Normalization statistics are fitted on the train block only.

Targets are the PCA coefficients of the lower face's speech part (the pose part
comes from the template frame at speak time, see landmarks/pose.py). With
``augment`` enabled the train block is also used as augmented copies
(audio2mouth/augment.py), their phones and targets re-timed with the audio;
windows never cross from one copy to another. ``extra_caches`` adds whole
other clips of the same anchor to the training windows (their speech motion
mapped into this clip's PCA, audio2mouth/extra_footage.py); val and test stay
this clip's blocks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from audio2mouth.augment import augmentations
from audio2mouth.extra_footage import speech_coeffs_in
from audio2mouth.features import AudioFeatures, Normalizer
from audio2mouth.metrics import mouth_opening_from_shapes
from audio2mouth.speaker import SpeakerData
from audio2mouth.timing import frames_to_steps
from landmarks.cache import SpeakerCache
from landmarks.errors import LipsyncError


def resolve_cache(path: str | Path) -> Path:
    """A cache directory, or a prefix ``DIR/name`` matching prepared ``DIR/name-<key>`` caches
    (the newest wins)."""
    path = Path(path)
    if (path / "meta.json").exists():
        return path
    found = sorted(path.parent.glob(f"{path.name}-*/meta.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise LipsyncError(f"no prepared speaker cache at {path} (run lipsync-prepare first)")
    return found[-1].parent


class WindowDataset(Dataset):
    """Fixed-length windows: features (W, d), targets (W, k) normalized, mask (W,) bool."""

    def __init__(self, features: np.ndarray, targets: np.ndarray, mask: np.ndarray, starts, window):
        self.features = torch.from_numpy(features)
        self.targets = torch.from_numpy(targets)
        self.mask = torch.from_numpy(mask)
        self.starts = list(starts)
        self.window = int(window)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        s = slice(self.starts[i], self.starts[i] + self.window)
        return {"features": self.features[s], "targets": self.targets[s], "mask": self.mask[s]}


class BlockDataset(Dataset):
    """One item: a whole time block as one sequence, targets at the video frame rate."""

    def __init__(self, item: dict[str, np.ndarray]):
        self.item = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in item.items()}

    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.item


class Audio2MouthDataModule(pl.LightningDataModule):
    """Windows of normalized features/targets for training; whole blocks for val/test."""

    def __init__(
        self,
        cache: str,
        features: AudioFeatures,
        window_s: float = 2.0,
        stride_s: float = 0.1,
        batch_size: int = 32,
        val_frac: float = 0.1,
        test_frac: float = 0.2,
        min_valid: float = 0.9,
        num_workers: int = 0,
        augment: dict | None = None,
        extra_caches: list[str] | None = None,
        extra_match_motion: bool = True,
        train_through_val: bool = False,
    ):
        super().__init__()
        if not (val_frac > 0 and test_frac > 0 and val_frac + test_frac <= 0.9):
            raise LipsyncError("val_frac and test_frac must be > 0 and leave >= 10 % for training")
        self.cache_path = str(cache)
        self.features = features
        self.window_s, self.stride_s = float(window_s), float(stride_s)
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.val_frac, self.test_frac, self.min_valid = val_frac, test_frac, min_valid
        self.augment = dict(augment) if augment else None
        self.extra_caches = [str(c) for c in (extra_caches or [])]
        self.extra_match_motion = bool(extra_match_motion)
        # the refit of audio2mouth/train.py: the val block joins the training windows (and the statistics)
        self.train_through_val = bool(train_through_val)
        self.speaker: SpeakerData | None = None

    @property
    def n_features(self) -> int:
        return self.features.n_features

    @property
    def n_coeffs(self) -> int:
        return int(self.speaker.pca.n_components)

    def setup(self, stage: str | None = None) -> None:
        if self.speaker is not None:
            return
        cache = SpeakerCache(resolve_cache(self.cache_path))
        phones = self._phones(cache)
        feats = self.features(cache.audio, phones)
        step_t = self.features.times(len(feats))
        frame_t = np.asarray(cache.timestamps, dtype=np.float64)
        coeffs, valid = np.asarray(cache.coeffs, np.float32), np.asarray(cache.valid, bool)
        duration = cache.n_frames / cache.fps
        t_val, t_test = (
            (1 - self.val_frac - self.test_frac) * duration,
            (1 - self.test_frac) * duration,
        )
        t_train_end = t_test if self.train_through_val else t_val
        self.block_times = {
            "train": (0.0, t_train_end),
            "val": (t_val, t_test),
            "test": (t_test, duration),
        }

        in_train_frames = (frame_t < t_train_end) & valid
        if in_train_frames.sum() < 10:
            raise LipsyncError(f"the train block of {cache.root} has too few valid frames")
        shapes = cache.pca.decode(coeffs[in_train_frames])
        opening = mouth_opening_from_shapes(shapes, cache.lower_face_indices)
        closed = opening <= np.quantile(opening, 0.1)
        train_steps = step_t < t_train_end
        self.speaker = SpeakerData(
            feature_norm=Normalizer.fit(feats[train_steps]),
            target_norm=Normalizer.fit(coeffs[in_train_frames]),
            pca=cache.pca,
            lower_face_indices=np.asarray(cache.lower_face_indices),
            reference=np.asarray(cache.reference, np.float32),
            rest_coeffs=coeffs[in_train_frames][closed].mean(0),
            fps=cache.fps,
            pose=cache.pose_model,
        )
        norm_feats = self.speaker.feature_norm.apply(feats)
        step_targets, step_mask = frames_to_steps(coeffs, valid, frame_t, step_t)
        norm_targets = self.speaker.target_norm.apply(step_targets)

        window = int(round(self.window_s * self.features.rate_hz))
        n_train = int(train_steps.sum())
        if n_train < window:
            raise LipsyncError(
                f"the train block ({n_train} steps) is shorter than one window ({window})"
            )
        copies = [(norm_feats[:n_train], norm_targets[:n_train], step_mask[:n_train])]
        copies += self._augmented_copies(cache, phones, t_train_end, frame_t, coeffs, valid)
        copies += [self._extra_copy(cache, coeffs[in_train_frames], path) for path in self.extra_caches]
        # Same number of windows per epoch with or without copies: the stride grows with their count.
        stride = max(1, int(round(self.stride_s * self.features.rate_hz * len(copies))))
        starts, offset = [], 0
        for _, _, mask in copies:
            starts += [offset + s for s in range(0, len(mask) - window + 1, stride)
                       if mask[s : s + window].mean() >= self.min_valid]
            offset += len(mask)
        if not starts:
            raise LipsyncError("no training window has enough frames with a valid face")
        self.train_set = WindowDataset(*(np.concatenate(parts) for parts in zip(*copies, strict=True)),
                                       starts, window)
        self.blocks = {}
        for name in ("val", "test"):
            lo, hi = self.block_times[name]
            steps = (step_t >= lo) & (step_t < hi)
            frames = (frame_t >= lo) & (frame_t < hi)
            self.blocks[name] = BlockDataset(
                {
                    "features": norm_feats[steps],
                    "step_times": step_t[steps],
                    "frame_times": frame_t[frames],
                    "coeffs": coeffs[frames],
                    "valid": valid[frames],
                    "transforms": np.nan_to_num(cache.transforms[frames]).astype(np.float64),
                    "pose_offsets": np.asarray(cache.pose_offsets[frames], np.float32),
                }
            )
        self.test_audio = cache.audio[int(t_test * cache.audio_rate) :]
        # the val block's audio and its frames' times from its first sample (for speak's silence gate)
        lo, hi = self.block_times["val"]
        a0 = int(lo * cache.audio_rate)
        self.val_audio = (cache.audio[a0 : int(hi * cache.audio_rate)],
                          frame_t[(frame_t >= lo) & (frame_t < hi)] - a0 / cache.audio_rate)

    def _phones(self, cache: SpeakerCache):
        """The cache's timed phones when the features need them (recognized here for caches without)."""
        if not self.features.uses_phones:
            return None
        if cache.phones is not None:
            return cache.phones
        from landmarks.phones import recognize

        print(f"note: {cache.root} holds no phones; recognizing them from its audio")
        return recognize(cache.audio)

    def _augmented_copies(self, cache: SpeakerCache, phones, t_end: float, frame_t: np.ndarray,
                          coeffs: np.ndarray, valid: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        """Normalized (features, targets, mask) of each augmented copy of the train block (ending at t_end s)."""
        out = []
        audio = cache.audio[: int(t_end * cache.audio_rate)]
        in_block = frame_t < t_end
        for i, aug in enumerate(augmentations(self.augment)):
            scale = aug.time_scale
            moved = phones.scaled(scale) if phones is not None else None
            feats = self.features(aug.apply(audio, seed=i), moved)
            step_t = self.features.times(len(feats))
            targets, mask = frames_to_steps(coeffs[in_block], valid[in_block], frame_t[in_block] * scale, step_t)
            out.append((self.speaker.feature_norm.apply(feats), self.speaker.target_norm.apply(targets), mask))
        return out

    def _extra_copy(self, main: SpeakerCache, main_train_coeffs: np.ndarray, path: str) -> tuple[np.ndarray, ...]:
        """Normalized (features, targets, mask) of a whole other clip of the same anchor."""
        extra = SpeakerCache(resolve_cache(path))
        feats = self.features(extra.audio, self._phones(extra))
        step_t = self.features.times(len(feats))
        coeffs = speech_coeffs_in(main, main_train_coeffs, extra, self.extra_match_motion)
        targets, mask = frames_to_steps(coeffs, np.asarray(extra.valid, bool),
                                        np.asarray(extra.timestamps, np.float64), step_t)
        return self.speaker.feature_norm.apply(feats), self.speaker.target_norm.apply(targets), mask

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            shuffle=True,
            drop_last=len(self.train_set) > self.batch_size,
            num_workers=self.num_workers,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.blocks["val"], batch_size=1)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.blocks["test"], batch_size=1)

"""The speaker cache: the contract between the prepare step and both trainers.

Layout of a cache directory (all plain arrays, no pickles; RGB images):

=================  ==========================================================
meta.json          source video/audio and their SHA-256, fps, frame count,
                   frame size as [width, height] px, crop size,
                   landmark indices, PCA size,
                   face-map parameters, config key, format version
landmarks.npz      timestamps (T,) s from the first frame; landmarks (T,68,2)
                   smoothed full-frame px; raw_landmarks (T,68,2) as detected
                   (NaN where none); detected (T,) bool; valid (T,) bool;
                   transforms (T,2,3) frame->canonical; reference (68,2)
                   canonical mean shape; crop_boxes (T,3) (cx, cy, side) px
pca.npz            PCA of the lower face's speech part: mean (D,), components
                   (k,D), explained_variance_ratio (k,), coeffs (T,k) (zero on
                   invalid frames); lower_face (P,) landmark indices; shapes
                   (T,P,2) canonical lower face; pose_offsets (T,P,2) its pose
                   part (shape = decode(coeffs) + pose_offsets); pose_* arrays
                   of the pose model (landmarks/pose.py)
audio_16k.npy      (N,) float32 mono 16 kHz, sample 0 at the first frame
                   (shifted by the A/V offset when prepare corrected one)
phones.npz         timed phones of that audio (landmarks/phones.py), when made
crops.npy          (T,S,S,3) uint8 RGB face crops (memory-mapped on load)
edges.npy          (T,S*S/8) uint8 packed Canny edges of each crop
report.json        the data-sufficiency report
=================  ==========================================================
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np

from landmarks.crop import frame_to_crop
from landmarks.errors import LipsyncError
from landmarks.facemap import FaceMapParams, draw_face_map
from landmarks.media import AUDIO_RATE
from landmarks.pca import LowerFacePCA
from landmarks.pose import PoseModel

FORMAT_VERSION = 2  # 2: the PCA describes the speech part; pose part stored apart
META = "meta.json"


class SpeakerCache:
    """Read-only view of a prepared speaker cache directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        meta_path = self.root / META
        if not meta_path.exists():
            raise LipsyncError(f"not a speaker cache (no {META}): {self.root}")
        self.meta: dict = json.loads(meta_path.read_text())
        version = self.meta.get("format_version")
        if version != FORMAT_VERSION:
            raise LipsyncError(
                f"speaker cache {self.root} has format version {version}, this code reads "
                f"{FORMAT_VERSION}; re-run the prepare step"
            )

    # -- scalars -------------------------------------------------------------
    @property
    def fps(self) -> float:
        return float(self.meta["fps"])

    @property
    def n_frames(self) -> int:
        return int(self.meta["n_frames"])

    @property
    def crop_size(self) -> int:
        return int(self.meta["crop_size"])

    @property
    def audio_rate(self) -> int:
        return AUDIO_RATE

    @cached_property
    def face_map_params(self) -> FaceMapParams:
        return FaceMapParams.from_dict(self.meta["face_map"])

    # -- arrays --------------------------------------------------------------
    @cached_property
    def _landmarks(self) -> dict[str, np.ndarray]:
        with np.load(self.root / "landmarks.npz", allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    @property
    def timestamps(self) -> np.ndarray:
        """(T,) float64 seconds of each frame from the first frame."""
        return self._landmarks["timestamps"]

    @property
    def landmarks(self) -> np.ndarray:
        """(T, 68, 2) float32 smoothed landmarks in full-frame pixels."""
        return self._landmarks["landmarks"]

    @property
    def valid(self) -> np.ndarray:
        """(T,) bool: frames with a usable face (detected or short-gap interpolated)."""
        return self._landmarks["valid"]

    @property
    def transforms(self) -> np.ndarray:
        """(T, 2, 3) frame->canonical similarity per frame."""
        return self._landmarks["transforms"]

    @property
    def reference(self) -> np.ndarray:
        """(68, 2) canonical reference shape of this speaker."""
        return self._landmarks["reference"]

    @property
    def crop_boxes(self) -> np.ndarray:
        """(T, 3) float32 crop boxes (cx, cy, side) in full-frame pixels."""
        return self._landmarks["crop_boxes"]

    @cached_property
    def _pca_arrays(self) -> dict[str, np.ndarray]:
        with np.load(self.root / "pca.npz", allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    @cached_property
    def pca(self) -> LowerFacePCA:
        return LowerFacePCA.load(self.root / "pca.npz")

    @property
    def coeffs(self) -> np.ndarray:
        """(T, k) float32 PCA coefficients of the canonical lower face."""
        return self._pca_arrays["coeffs"]

    @property
    def lower_face_shapes(self) -> np.ndarray:
        """(T, P, 2) float32 canonical lower-face shapes (lower jaw + lips)."""
        return self._pca_arrays["shapes"]

    @property
    def lower_face_indices(self) -> np.ndarray:
        return self._pca_arrays["lower_face"]

    @cached_property
    def pose_model(self) -> PoseModel:
        return PoseModel.from_arrays(self._pca_arrays, len(self.lower_face_indices))

    @property
    def pose_offsets(self) -> np.ndarray:
        """(T, P, 2) float32 pose part of each frame's canonical lower face (zeros without a pose model)."""
        if "pose_offsets" in self._pca_arrays:
            return self._pca_arrays["pose_offsets"]
        return np.zeros((self.n_frames, len(self.lower_face_indices), 2), np.float32)

    @cached_property
    def audio(self) -> np.ndarray:
        """(N,) float32 mono audio at 16 kHz, sample 0 at the first frame's timestamp."""
        return np.load(self.root / "audio_16k.npy", allow_pickle=False)

    @cached_property
    def phones(self):
        """Timed phones of ``audio`` (``landmarks.phones.Phones``), or None for caches made without them."""
        if not (self.root / "phones.npz").exists():
            return None
        from landmarks.phones import Phones

        return Phones.load(self.root / "phones.npz")

    @cached_property
    def crops(self) -> np.ndarray:
        """(T, S, S, 3) uint8 RGB face crops, memory-mapped (not read until indexed)."""
        return np.load(self.root / "crops.npy", mmap_mode="r", allow_pickle=False)

    @cached_property
    def _packed_edges(self) -> np.ndarray:
        return np.load(self.root / "edges.npy", mmap_mode="r", allow_pickle=False)

    def edges(self, index: int) -> np.ndarray:
        """(S, S) bool Canny edges of frame ``index``'s crop."""
        size = self.crop_size
        bits = np.unpackbits(self._packed_edges[index], count=size * size)
        return bits.reshape(size, size).astype(bool)

    def landmarks_in_crop(self, index: int) -> np.ndarray:
        """(68, 2) landmarks of frame ``index`` in its crop's pixels."""
        return frame_to_crop(self.landmarks[index], self.crop_boxes[index], self.crop_size)

    def face_map(self, index: int) -> np.ndarray:
        """(S, S, 3) uint8 face map of frame ``index`` with its own landmarks and edges."""
        return draw_face_map(self.landmarks_in_crop(index), self.edges(index), self.face_map_params)

    @cached_property
    def report(self) -> dict:
        return json.loads((self.root / "report.json").read_text())


def open_cache(root: str | Path) -> SpeakerCache:
    """Open a cache directory, with a clear error if it is missing or incomplete."""
    return SpeakerCache(root)

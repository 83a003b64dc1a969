"""The speaker bundle: one directory with everything inference needs.

==================  ==========================================================
bundle.json         format tag and version, speaker, fps, crop size,
                    face-map parameters, sources, each stage's metrics
audio2mouth/        the audio2mouth model folder (config.yaml, weights.pt,
                    stats.npz with feature normalization, pca.npz)
renderer/           renderer.yaml + renderer.pt (generator state_dict)
template/           the prepared speaker cache of the training footage
                    (landmarks, transforms, crop boxes, crops, edges) and
                    template.<ext>, a copy of the footage itself
work/               fit's intermediate runs (logs, checkpoints); not needed
                    by speak and safe to delete
==================  ==========================================================

Nothing is unpickled on load: JSON/YAML, plain arrays and tensor-only state dicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from landmarks.cache import SpeakerCache
from landmarks.errors import LipsyncError
from landmarks.facemap import FaceMapParams
from renderer.detail_transfer import checked_gain, checked_neighbours

FORMAT = "anchor-lipsync/speaker-bundle"
FORMAT_VERSION = 1
MANIFEST = "bundle.json"


@dataclass
class SpeakerBundle:
    """A validated bundle directory. Stage models are loaded lazily."""

    root: Path
    manifest: dict
    detail_transfer: float | None = None  # the renderer's fine-detail gain in place of its own (None: its own)
    detail_neighbours: int | None = None  # bank crops the detail is taken from, in place of the renderer's own

    @classmethod
    def open(cls, root: str | Path, detail_transfer: float | None = None,
             detail_neighbours: int | None = None) -> SpeakerBundle:
        root = Path(root)
        path = root / MANIFEST
        if not path.exists():
            raise LipsyncError(f"not a speaker bundle (no {MANIFEST}): {root}")
        try:
            manifest = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise LipsyncError(f"unreadable {path}: {err.__class__.__name__}") from err
        if manifest.get("format") != FORMAT:
            raise LipsyncError(f"{path} is not a speaker bundle manifest")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise LipsyncError(
                f"bundle {root} has format version {manifest.get('format_version')}, this code reads "
                f"{FORMAT_VERSION}; re-run fit"
            )
        for part in ("audio2mouth", "renderer", "template"):
            if not (root / part).is_dir():
                raise LipsyncError(f"bundle {root} is incomplete: {part}/ is missing")
        # settings in place of the renderer's own, checked now: the renderer loads after the audio's work
        return cls(root, manifest, None if detail_transfer is None else checked_gain(detail_transfer),
                   None if detail_neighbours is None else checked_neighbours(detail_neighbours))

    @property
    def speaker(self) -> str:
        return str(self.manifest["speaker"])

    @property
    def fps(self) -> float:
        return float(self.manifest["fps"])

    @property
    def crop_size(self) -> int:
        return int(self.manifest["crop_size"])

    @property
    def render_size(self) -> int:
        """px the renderer paints its box at; renderers without a render box paint the crop."""
        from renderer.bundle import read_config

        box = read_config(self.root / "renderer").get("render_box")
        return int(box["size"]) if box else self.crop_size

    @property
    def face_map_params(self) -> FaceMapParams:
        return FaceMapParams.from_dict(self.manifest["face_map"])

    @cached_property
    def template(self) -> SpeakerCache:
        return SpeakerCache(self.root / "template")

    @property
    def template_video(self) -> Path:
        return self.root / "template" / self.manifest["template_video"]

    @cached_property
    def audio2mouth(self):
        from audio2mouth.bundle import load_bundle

        return load_bundle(self.root / "audio2mouth")

    @cached_property
    def renderer(self):
        from renderer.inference import load_renderer

        return load_renderer(self.root / "renderer", crop_size=self.crop_size, detail_transfer=self.detail_transfer,
                             detail_neighbours=self.detail_neighbours)


def write_manifest(root: Path, manifest: dict) -> None:
    """Write bundle.json last (via a temporary file): its presence marks a complete bundle."""
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest}
    tmp = root / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(root / MANIFEST)

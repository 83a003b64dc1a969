"""The newsroom page's view of a folder of speaker bundles: names, footage, metrics, a still frame.

A bundle is any direct subfolder of ``bundles_dir`` with a ``bundle.json``. One
that :meth:`SpeakerBundle.open` refuses (another format version, missing parts)
is still listed, with the refusal as its message, so an editor sees why it
cannot be chosen instead of not seeing it at all.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from landmarks.errors import LipsyncError
from pipeline.bundle import MANIFEST, SpeakerBundle

STILL_WIDTH = 320  # px, width of the still frame shown per bundle

# Held-out metrics shown per bundle: (manifest section, key, label, format).
METRICS = [
    ("audio2mouth", "mse", "audio→mouth MSE", "{:.5f}"),
    ("audio2mouth", "int_mse", "Int-MSE", "{:.5f}"),
    ("audio2mouth", "lmk_rmse_px", "landmark RMSE (px)", "{:.2f}"),
    ("audio2mouth", "mouth_corr", "mouth-opening r", "{:.2f}"),
    ("renderer", "val/psnr", "renderer PSNR (dB)", "{:.2f}"),
    ("renderer", "val/ssim", "renderer SSIM", "{:.3f}"),
]


@dataclass
class BundleEntry:
    name: str
    root: Path
    bundle: SpeakerBundle | None
    error: str | None

    def summary(self) -> dict:
        """JSON for the page: name, footage, held-out metrics, and the still frame's address."""
        out: dict = {"name": self.name, "ok": self.bundle is not None, "error": self.error}
        if self.bundle is None:
            return out
        man = self.bundle.manifest
        source = man.get("source") or {}
        a2m = man.get("audio2mouth") or {}
        sections = {"audio2mouth": a2m.get("test") or {}, "renderer": man.get("renderer") or {}}
        metrics = []
        for section, key, label, fmt in METRICS:
            value = sections[section].get(key)
            if isinstance(value, (int, float)):
                metrics.append({"label": label, "value": fmt.format(value)})
        out.update(
            speaker=self.bundle.speaker, footage=Path(str(source.get("video", "?"))).name,
            footage_path=str(source.get("video", "")), footage_s=source.get("audio_duration_s"),
            fps=self.bundle.fps, crop_size=self.bundle.crop_size, model=a2m.get("model"),
            metrics=metrics, still=f"/api/bundles/{self.name}/still.jpg",
        )
        return out


class BundleShelf:
    """The bundles under ``root``, re-read on every listing (bundles appear as fit finishes them)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._stills: dict[tuple[str, float], bytes] = {}
        self._lock = threading.Lock()

    def entries(self) -> list[BundleEntry]:
        if not self.root.is_dir():
            return []
        found = []
        for path in sorted(p for p in self.root.iterdir() if (p / MANIFEST).is_file()):
            found.append(self._entry(path))
        return found

    def _entry(self, path: Path) -> BundleEntry:
        try:
            return BundleEntry(path.name, path, SpeakerBundle.open(path), None)
        except LipsyncError as err:
            return BundleEntry(path.name, path, None, str(err))

    def get(self, name: str) -> SpeakerBundle:
        """The bundle called ``name`` (a direct subfolder only), or a LipsyncError for the page."""
        if not name:
            raise LipsyncError("choose a speaker bundle")
        path = self.root / name
        if "/" in name or "\\" in name or name in (".", "..") or not (path / MANIFEST).is_file():
            raise LipsyncError(f"no speaker bundle called {name!r} in {self.root}")
        entry = self._entry(path)
        if entry.bundle is None:
            raise LipsyncError(entry.error or "unreadable bundle")
        return entry.bundle

    def still(self, name: str) -> bytes:
        """A JPEG of the first frame of the bundle's footage, ``STILL_WIDTH`` px wide (cached)."""
        bundle = self.get(name)
        video = bundle.template_video
        key = (str(video), video.stat().st_mtime if video.exists() else 0.0)
        with self._lock:
            if key in self._stills:
                return self._stills[key]
        import cv2

        from landmarks.media import iter_frames

        frames = iter_frames(video, threads=False)
        try:
            _, rgb = next(frames)
        except StopIteration:
            raise LipsyncError(f"no frame in {video}") from None
        finally:
            frames.close()
        h, w = rgb.shape[:2]
        small = cv2.resize(rgb, (STILL_WIDTH, max(1, round(h * STILL_WIDTH / w))), interpolation=cv2.INTER_AREA)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            raise LipsyncError(f"cannot encode a still frame of {video}")
        with self._lock:
            self._stills[key] = jpeg.tobytes()
        return self._stills[key]

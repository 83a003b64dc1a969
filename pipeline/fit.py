"""fit: footage of one anchor -> a speaker bundle (prepare, audio2mouth, renderer).

    lipsync-fit video=PATH [audio=PATH] speaker=NAME out=BUNDLE_DIR

Each stage's result is kept under ``BUNDLE_DIR/work``; re-running skips the
stages that finished and resumes an interrupted training from its last
checkpoint. The bundle's manifest is written last, so a bundle that has one is
complete.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import hydra
from omegaconf import DictConfig

from landmarks.cache import SpeakerCache
from landmarks.errors import exit_on_user_error
from landmarks.prepare import ensure_writable, prepare, required
from pipeline.bundle import SpeakerBundle, write_manifest
from pipeline.stages import compose_stage


def _overrides(cfg: DictConfig, key: str) -> list[str]:
    value = cfg.get(key) or []
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in value]


def _last_checkpoint(run_dir: Path) -> Path | None:
    last = run_dir / "checkpoints" / "last.ckpt"
    return last if last.exists() else None


def train_audio2mouth(cache: Path, work: Path, overrides: list[str]) -> Path:
    """Train (or reuse) the audio2mouth model; returns its model folder."""
    run_dir = work / "audio2mouth"
    model_dir = run_dir / "model"
    if (run_dir / "results.json").exists() and model_dir.is_dir():
        print(f"audio2mouth: reusing {model_dir}")
        return model_dir
    from audio2mouth.train import train

    base = [f"speaker={cache.name}", f"paths.cache_dir={cache.parent}", f"paths.output_dir={run_dir}",
            "checkpoint=true"]
    resume = _last_checkpoint(run_dir)
    if resume:
        print(f"audio2mouth: resuming from {resume}")
        base.append(f"+resume={resume}")
    results = train(compose_stage("audio2mouth_train", base + overrides))
    print(f"audio2mouth: test MSE {results['test']['mse']:.5f}")
    return model_dir


def train_renderer(cache: Path, work: Path, crop_size: int, overrides: list[str]) -> Path:
    """Train (or reuse) the renderer; returns the directory with renderer.yaml/.pt."""
    run_dir = work / "renderer"
    done = run_dir / "metrics.json"
    if done.exists() and (run_dir / "renderer.pt").exists():
        print(f"renderer: reusing {run_dir}")
        return run_dir
    from renderer.train import train

    base = [f"speaker={cache.name}", f"render_data.cache={cache}", f"paths.output_dir={run_dir}",
            f"crop_size={crop_size}"]
    resume = _last_checkpoint(run_dir)
    if resume:
        print(f"renderer: resuming from {resume}")
        base.append(f"+resume={resume}")
    metrics = train(compose_stage("renderer_train", base + overrides))
    tmp = done.with_suffix(".tmp")
    tmp.write_text(json.dumps(metrics, indent=2))
    os.replace(tmp, done)
    print(f"renderer: best held-out PSNR {metrics.get('best/val_psnr', float('nan')):.2f} dB")
    return run_dir


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard link when on the same file system (templates can be large), else copy."""
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _copy_files(src: Path, dst: Path, names: list[str] | None = None) -> None:
    """Put the files of ``src`` (only ``names`` if given) into ``dst``."""
    dst.mkdir(parents=True, exist_ok=True)
    for item in sorted(src.iterdir()):
        if item.is_file() and (names is None or item.name in names):
            _link_or_copy(item, dst / item.name)


def assemble(out: Path, cache: SpeakerCache, model_dir: Path, renderer_dir: Path, video: Path) -> Path:
    """Gather the stage outputs into the bundle layout and write the manifest last."""
    (out / "bundle.json").unlink(missing_ok=True)  # incomplete until the manifest is rewritten
    for part in ("audio2mouth", "renderer", "template"):
        shutil.rmtree(out / part, ignore_errors=True)
    _copy_files(model_dir, out / "audio2mouth")
    _copy_files(renderer_dir, out / "renderer", ["renderer.pt", "renderer.yaml", "metrics.json"])
    _copy_files(cache.root, out / "template")
    template_name = "template" + video.suffix.lower()
    _link_or_copy(video, out / "template" / template_name)
    a2m = json.loads((model_dir.parent / "results.json").read_text())
    rend = json.loads((renderer_dir / "metrics.json").read_text())
    write_manifest(out, {
        "speaker": cache.meta["speaker"],
        "fps": cache.fps,
        "crop_size": cache.crop_size,
        "frame_size": cache.meta["frame_size"],
        "face_map": cache.meta["face_map"],
        "template_video": template_name,
        "source": cache.meta["source"],
        "audio2mouth": {"model": a2m.get("model"), "test": a2m.get("test")},
        "renderer": {k: v for k, v in rend.items() if k.startswith(("val/", "best/"))},
    })
    return out


def fit(cfg: DictConfig) -> Path:
    """Run all stages for the footage in ``cfg``; returns the bundle directory."""
    required(cfg, "speaker")
    video = Path(required(cfg, "video")).expanduser()
    out = Path(required(cfg, "out")).expanduser()
    ensure_writable(out)  # before hours of work, not after
    work = out / "work"
    cache = SpeakerCache(prepare(cfg))
    print(f"[1/3] speaker cache: {cache.root}")
    model_dir = train_audio2mouth(cache.root, work, _overrides(cfg, "audio2mouth"))
    print(f"[2/3] audio2mouth model: {model_dir}")
    renderer_dir = train_renderer(cache.root, work, cache.crop_size, _overrides(cfg, "renderer"))
    print(f"[3/3] renderer: {renderer_dir}")
    bundle = assemble(out, cache, model_dir, renderer_dir, video)
    SpeakerBundle.open(bundle)  # proves it reads back
    return bundle


@exit_on_user_error
def run(cfg: DictConfig) -> Path:
    bundle = fit(cfg)
    print(f"speaker bundle: {bundle}")
    return bundle


@hydra.main(config_path="../conf", config_name="fit", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()

"""fit: footage of one anchor -> a speaker bundle (prepare, audio2mouth, renderer).

    lipsync-fit video=PATH [audio=PATH] speaker=NAME out=BUNDLE_DIR [budget=45m]

``budget`` is the wall-clock time the bundle's fit may take (``pipeline/budget.py``
says how it is shared). After prepare, fit times a few training batches of each
stage, prints the plan with an estimate, trains (each trainer also stops early when
its validation metric stops improving), assembles the bundle and prints a summary,
also written as ``fit_summary.json`` (``pipeline/fit_summary.py``).

Each stage's result is kept under ``BUNDLE_DIR/work``; re-running skips the stages
that finished, resumes an interrupted training from its last checkpoint, and
continues a stage that the budget stopped when the new budget gives it more time.
The bundle's manifest is written last, so a bundle that has one is complete.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from landmarks.cache import SpeakerCache
from landmarks.errors import LipsyncError, exit_on_user_error
from landmarks.prepare import ensure_writable, prepare, required
from pipeline.budget import (
    Ledger,
    budget_minutes,
    lightning_time,
    max_time_seconds,
    parse_duration,
    share_budget,
    worth_extending,
)
from pipeline.bundle import SpeakerBundle, write_manifest
from pipeline.fit_summary import held_out_metrics, merge_metric_logs, plan_lines, summary_lines, write_summary
from pipeline.probe import probe_stage
from pipeline.stages import compose_stage

# Resolvers of conf/fit.yaml and its launchers: ${stem:PATH} names a speaker after its video's
# file (anna.mp4 -> anna, so `-m video=a.mp4,b.mp4 'out=bundles/${speaker}'` gives one bundle
# per anchor); ${budget_minutes:BUDGET,MARGIN} is a cluster job's time limit.
OmegaConf.register_new_resolver("stem", lambda path: Path(str(path)).stem, replace=True)
OmegaConf.register_new_resolver("budget_minutes", budget_minutes, replace=True)


def _overrides(cfg: DictConfig, key: str) -> list[str]:
    value = cfg.get(key) or []
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in value]


def footage_configs(cfg: DictConfig, key: str = "extra_footage", tag: str = "extra") -> list[DictConfig]:
    """One prepare config per footage entry of ``cfg[key]``: a video path, or a mapping with
    ``video`` and optional ``audio`` and ``transcript``. Each is prepared like the main footage
    (same landmark and face-map settings) into its own cache, named ``<speaker>_<tag>_<video stem>``."""
    out = []
    for entry in cfg.get(key) or []:
        spec = {"video": entry} if isinstance(entry, str) else OmegaConf.to_container(entry, resolve=True)
        if not isinstance(spec, dict) or not spec.get("video"):
            raise LipsyncError(f"{key} entries are a video path or {{video: ..., audio: ...}}, got {entry!r}")
        unknown = set(spec) - {"video", "audio", "transcript"}
        if unknown:
            raise LipsyncError(f"{key} entry {spec['video']}: unknown keys {sorted(unknown)}")
        one = cfg.copy()
        one.video, one.audio, one.transcript = spec["video"], spec.get("audio"), spec.get("transcript")
        one.speaker = f"{cfg.speaker}_{tag}_{Path(str(spec['video'])).stem}"
        out.append(one)
    return out


def extra_footage_configs(cfg: DictConfig) -> list[DictConfig]:
    """Prepare configs of ``extra_footage``: more recordings of this anchor."""
    return footage_configs(cfg, "extra_footage", "extra")


def prepared_cache(entry) -> Path | None:
    """The cache an ``other_anchors`` entry already is: a speaker bundle (its ``template/`` is the
    cache it was fitted on) or a prepared cache directory; None for footage still to prepare."""
    if not isinstance(entry, str) or not Path(entry).is_dir():
        return None
    root = Path(entry)
    if (root / "bundle.json").exists():
        root = root / "template"
    SpeakerCache(root)  # a one-line error when it is neither (or an old format)
    return root


def other_anchor_plan(cfg: DictConfig) -> tuple[list[Path | None], list[DictConfig]]:
    """For ``other_anchors``: each entry's cache where it already is one (None where not), and
    the prepare configs of the entries that are footage. Malformed entries fail here, before any work."""
    entries = list(cfg.get("other_anchors") or [])
    ready = [prepared_cache(e) for e in entries]
    todo = cfg.copy()
    todo.other_anchors = [e for e, c in zip(entries, ready, strict=True) if c is None]
    return ready, footage_configs(todo, "other_anchors", "other")


def other_anchor_caches(ready: list[Path | None], to_prepare: list[DictConfig]) -> list[Path]:
    """The caches audio2mouth pretrains on (audio2mouth/pretrain.py), in the order given: the
    ready ones as they are, the footage prepared."""
    prepared = iter([Path(prepare(one)) for one in to_prepare])
    return [c if c is not None else next(prepared) for c in ready]


def _last_checkpoint(run_dir: Path) -> Path | None:
    """``last.ckpt`` when it is a complete zip archive; a damaged one (killed mid-write) is removed."""
    last = run_dir / "checkpoints" / "last.ckpt"
    if not last.exists():
        return None
    try:
        with zipfile.ZipFile(last) as archive:
            if archive.testzip() is None:
                return last
    except (zipfile.BadZipFile, OSError):
        pass
    print(f"ignoring a damaged checkpoint: {last}")
    last.unlink()
    return None


@dataclass
class Stage:
    """One trainer run of fit: where it writes, how its result is recognised, its overrides."""

    name: str  # audio2mouth | renderer
    config: str  # the stage's primary config
    run_dir: Path
    result: str  # the file written when the stage finished
    product: str  # the file or folder the bundle takes from it
    base: list[str]
    user: list[str]
    action: str = "train"
    max_time_s: float | None = None
    record: dict = field(default_factory=dict)

    def previous(self) -> dict | None:
        done, product = self.run_dir / self.result, self.run_dir / self.product
        return json.loads(done.read_text()) if done.exists() and product.exists() else None

    def overrides(self, max_time_s: float | None) -> list[str]:
        """Base, then the budget's time limit, then the user's: what the user typed wins."""
        limit = [f"trainer.max_time={lightning_time(max_time_s)}"] if max_time_s else []
        return self.base + limit + self.user

    def decide(self, max_time_s: float | None) -> str:
        previous = self.previous()
        if previous is not None:
            extend = worth_extending(previous.get("stop"), max_time_s) and _last_checkpoint(self.run_dir)
            return "extend" if extend else "reuse"
        return "resume" if _last_checkpoint(self.run_dir) else "train"

    def trainer(self):
        """The stage's ``train(cfg, callbacks=None)``; imported late, fit's start-up stays quick."""
        if self.name == "audio2mouth":
            from audio2mouth.train import train
        else:
            from renderer.train import train
        return train


def _list_override(key: str, paths: list[Path]) -> list[str]:
    return [f"{key}=[{','.join(repr(str(p)) for p in paths)}]"] if paths else []


def make_stages(cache: SpeakerCache, work: Path, cfg: DictConfig,
                extra_caches: list[Path] = (), pretrain_caches: list[Path] = ()) -> dict[str, Stage]:
    a2m_dir, r_dir = work / "audio2mouth", work / "renderer"
    extra = [*_list_override("data.extra_caches", extra_caches), *_list_override("pretrain_caches", pretrain_caches)]
    return {
        "audio2mouth": Stage("audio2mouth", "audio2mouth_train", a2m_dir, "results.json", "model",
                             [f"speaker={cache.root.name}", f"paths.cache_dir={cache.root.parent}",
                              f"paths.output_dir={a2m_dir}", "checkpoint=true", *extra],
                             _overrides(cfg, "audio2mouth")),
        "renderer": Stage("renderer", "renderer_train", r_dir, "metrics.json", "renderer.pt",
                          [f"speaker={cache.root.name}", f"render_data.cache={cache.root}",
                           f"paths.output_dir={r_dir}", f"crop_size={cache.crop_size}"], _overrides(cfg, "renderer")),
    }


def run_stage(stage: Stage) -> dict:
    """Train, resume or extend ``stage`` (or reuse its result); returns its result record."""
    if stage.action == "reuse":
        print(f"{stage.name}: reusing {stage.run_dir}")
        return stage.previous()
    overrides = stage.overrides(stage.max_time_s)
    resume = _last_checkpoint(stage.run_dir) if stage.action in ("resume", "extend") else None
    if resume:
        print(f"{stage.name}: resuming from {resume}")
        overrides.append(f"+resume={resume}")
    result = stage.trainer()(compose_stage(stage.config, overrides))
    if stage.name == "renderer":  # the renderer trainer returns its metrics; fit keeps them as the done-marker
        tmp = stage.run_dir / ".metrics.json.tmp"
        tmp.write_text(json.dumps(result, indent=2))
        os.replace(tmp, stage.run_dir / stage.result)
        print(f"renderer: best held-out PSNR {result.get('best/val_psnr', float('nan')):.2f} dB")
    else:
        print(f"audio2mouth: test MSE {result['test']['mse']:.5f}")
    return result


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


def assemble(out: Path, cache: SpeakerCache, stages: dict[str, Stage], video: Path, summary: dict) -> Path:
    """Gather the stage outputs into the bundle layout and write the manifest last."""
    (out / "bundle.json").unlink(missing_ok=True)  # incomplete until the manifest is rewritten
    for part in ("audio2mouth", "renderer", "template", "curves"):
        shutil.rmtree(out / part, ignore_errors=True)
    a2m_dir, renderer_dir = stages["audio2mouth"].run_dir, stages["renderer"].run_dir
    _copy_files(a2m_dir / "model", out / "audio2mouth")
    _copy_files(renderer_dir, out / "renderer", ["renderer.pt", "renderer.yaml", "metrics.json", "reference_bank.npz"])
    _copy_files(cache.root, out / "template")
    template_name = "template" + video.suffix.lower()
    _link_or_copy(video, out / "template" / template_name)
    summary["curves"] = {name: f"curves/{name}.csv" for name, st in stages.items()
                         if merge_metric_logs(st.run_dir, out / "curves" / f"{name}.csv")}
    write_summary(out, summary)
    a2m = json.loads((a2m_dir / "results.json").read_text())
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


def _preparing(ledger: Ledger) -> float:
    """Seconds spent before training: preparing the footage (main and extra) and planning."""
    return ledger.get("prepare") + ledger.get("prepare_extra") + ledger.get("prepare_other") + ledger.get("plan")


def plan(stages: dict[str, Stage], cfg: DictConfig, budget_s: float | None, ledger: Ledger,
         scratch: Path) -> dict[str, dict]:
    """Decide each stage's action and time limit, probing the throughput of those that will train.

    Returns per stage: action, max_time_s (its training limit), estimate_s (this run) and
    ``until`` (what the estimate says will stop it).
    """
    share = cfg.budget_share
    shares = share_budget(budget_s, _preparing(ledger), float(share.audio2mouth),
                          float(share.assemble_s), None) if budget_s else None
    info: dict[str, dict] = {}
    a2m_estimate = None
    for name, stage in stages.items():
        if compose_stage(stage.config, stage.overrides(None)).trainer.get("strategy"):
            raise LipsyncError(f"fit trains {name} in one process; for DDP run {name}-train with trainer=ddp")
        if shares is None:
            limit = None
        elif name == "audio2mouth":
            limit = shares.audio2mouth_s
        else:  # what audio2mouth leaves: its time so far plus its estimate for this run
            used = ledger.get("audio2mouth") + (a2m_estimate or 0.0)
            limit = max(shares.audio2mouth_s + shares.renderer_s - used, 0.0)
        stage.action = stage.decide(limit)
        entry = {"action": stage.action, "max_time_s": None, "estimate_s": 0.0 if stage.action == "reuse" else None}
        if stage.action != "reuse" and int(cfg.probe_batches) > 0:
            timing = probe_stage(stage.config, stage.trainer(), stage.overrides(limit), scratch / name,
                                 int(cfg.probe_batches))
            # The trainer's own limit is the share less the stage's measured fixed overhead.
            stage.max_time_s = None if limit is None else max(limit - timing.overhead_s, 1.0)
            effective = max_time_seconds(compose_stage(stage.config, stage.overrides(stage.max_time_s)).trainer
                                         .get("max_time"))  # a user's trainer.max_time wins
            done = float(((stage.previous() or {}).get("stop") or {}).get("train_s") or 0.0)
            entry["estimate_s"], entry["until"] = timing.estimate(effective, done)
            entry["max_time_s"] = effective
            entry["timing"] = vars(timing)
        elif stage.action != "reuse":
            stage.max_time_s = limit
            entry["max_time_s"] = limit
        if name == "audio2mouth":
            a2m_estimate = entry["estimate_s"] or 0.0
        info[name] = entry
    return info


def fit(cfg: DictConfig) -> Path:
    """Run all stages for the footage in ``cfg``; returns the bundle directory."""
    video = Path(required(cfg, "video")).expanduser()  # before speaker, whose default is the video's name
    required(cfg, "speaker")
    out = Path(required(cfg, "out")).expanduser()
    budget_s = parse_duration(cfg.get("budget"))
    ensure_writable(out)  # before hours of work, not after
    work = out / "work"
    ledger = Ledger(work / "fit_state.json")
    t_start = time.perf_counter()
    seconds: dict[str, float] = {}

    def timed(step: str, fn, *args):
        """Run one step; its wall time goes to the ledger even when it is interrupted."""
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            seconds[step] = time.perf_counter() - t0
            ledger.add(step, seconds[step])

    extra_cfgs = extra_footage_configs(cfg)  # malformed entries fail before any work
    other_ready, other_cfgs = other_anchor_plan(cfg)
    cache = SpeakerCache(timed("prepare", prepare, cfg))
    print(f"[1/3] speaker cache: {cache.root}")
    extra_caches = timed("prepare_extra", lambda: [prepare(one) for one in extra_cfgs])
    for path in extra_caches:
        print(f"      extra footage for audio2mouth: {path}")
    other_caches = timed("prepare_other", other_anchor_caches, other_ready, other_cfgs)
    for path in other_caches:
        print(f"      another anchor for audio2mouth's pretraining: {path}")
    stages = make_stages(cache, work, cfg, extra_caches, other_caches)
    info = timed("plan", plan, stages, cfg, budget_s, ledger, work / "probe")
    estimate = (time.perf_counter() - t_start) + sum(i["estimate_s"] or 0.0 for i in info.values())
    print("\n".join(plan_lines(budget_s, info, time.perf_counter() - t_start, estimate)), flush=True)

    a2m = timed("audio2mouth", run_stage, stages["audio2mouth"])
    print(f"[2/3] audio2mouth model: {stages['audio2mouth'].run_dir / 'model'}")
    renderer = stages["renderer"]
    if budget_s and renderer.action != "reuse" and renderer.max_time_s is not None:
        # Give the renderer what audio2mouth actually left, not what the plan guessed.
        shares = share_budget(budget_s, _preparing(ledger),
                              float(cfg.budget_share.audio2mouth), float(cfg.budget_share.assemble_s),
                              ledger.get("audio2mouth"))
        overhead = (info["renderer"].get("timing") or {}).get("overhead_s", 0.0)
        renderer.max_time_s = max(shares.renderer_s - overhead, 1.0)
    rend = timed("renderer", run_stage, renderer)
    print(f"[3/3] renderer: {renderer.run_dir}")

    summary = {
        "budget_s": budget_s, "estimate_s": round(estimate, 1), "total_s": None, "spent_s": {},
        "stages": {
            name: {"action": stage.action, "seconds": round(seconds[name], 1), "estimate_s": info[name]["estimate_s"],
                   "max_time_s": stage.max_time_s, "until": info[name].get("until"),
                   "timing": info[name].get("timing"), "stop": (rec or {}).get("stop")}
            for name, stage, rec in (("audio2mouth", stages["audio2mouth"], a2m), ("renderer", renderer, rend))
        },
        "prepare_s": round(seconds["prepare"] + seconds["prepare_extra"] + seconds["prepare_other"]
                           + seconds["plan"], 1),
        "extra_footage": [str(p) for p in extra_caches],
        "other_anchors": [str(p) for p in other_caches],
        "metrics": held_out_metrics(a2m, rend), "bundle": str(out), "finished": None,
    }
    t0 = time.perf_counter()
    bundle = assemble(out, cache, stages, video, _finish(summary, ledger, t_start))
    SpeakerBundle.open(bundle)  # proves it reads back
    ledger.add("assemble", time.perf_counter() - t0)
    print("\n".join(summary_lines(summary)))
    return bundle


def _finish(summary: dict, ledger: Ledger, t_start: float) -> dict:
    summary["total_s"] = round(time.perf_counter() - t_start, 1)
    summary["spent_s"] = {k: round(v, 1) for k, v in ledger.spent.items()}
    summary["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return summary


@exit_on_user_error
def run(cfg: DictConfig) -> Path:
    try:
        bundle = fit(cfg)
    except KeyboardInterrupt:
        # Finished stages and checkpoints are kept; the manifest is only written once all is done.
        print("\nfit interrupted: re-run the same command to continue from where it stopped")
        raise SystemExit(130) from None
    print(f"speaker bundle: {bundle}")
    return bundle


@hydra.main(config_path="../conf", config_name="fit", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()

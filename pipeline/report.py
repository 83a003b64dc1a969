"""report: one HTML page (and the same in Markdown) for a speaker bundle and/or a sweep.

    lipsync-report bundle=DIR [evaluation=eval.json] [sweep=MULTIRUN_DIR] [video=FILE.mp4] out=DIR

Sections appear for what is given: the audio2mouth comparison tables (sweep),
the bundle's stage metrics, data-sufficiency report, training curves and a
strip of frames (ground truth | face map | rendered), the evaluation metrics
with the mouth opening over time, and the output video.
"""

from __future__ import annotations

import html
import json
import os
import shutil
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig

from landmarks.errors import LipsyncError, exit_on_user_error
from landmarks.prepare import ensure_writable, required
from pipeline.bundle import SpeakerBundle
from pipeline.report_fit import fit_section
from pipeline.report_plots import plot_curves, plot_opening, save_strip

EVAL_KEYS = [("lmd_px", "LMD (px, mouth 48-67, mean-centred)"), ("psnr_db", "PSNR, face crop (dB)"),
             ("ssim", "SSIM, face crop"), ("av_offset_ms", "A/V offset (ms, + = video late)"),
             ("av_offset_ms_ground_truth", "A/V offset of the real clip (ms)"),
             ("jitter", "mouth jitter (mean abs. 2nd difference)"),
             ("jitter_ground_truth", "mouth jitter of the real clip"),
             ("closed_when_silent", "closed mouth in silent frames (fraction)"),
             ("closed_when_silent_ground_truth", "... in the real clip"),
             ("opening_correlation", "mouth-opening correlation with the real clip"),
             ("opening_std_ratio", "mouth-opening std, output / real clip (< 0.7: mumbling)"),
             ("lmd_static_mean_mouth_px", "LMD of a still mean mouth (px), the bar to beat"),
             ("lmd_below_static_mean_mouth", "LMD below the still mean mouth's (share)"),
             ("lmd_train_mean_mouth_px", "LMD of the training footage's mean mouth, turned with the head (px)"),
             ("lmd_below_train_mean_mouth", "LMD below the training footage's mean mouth (share)"),
             ("face_box_psnr_db", "PSNR, face box at output resolution (dB)"),
             ("mouth_psnr_db", "PSNR, mouth box at output resolution (dB)"),
             ("mouth_ssim", "SSIM, mouth box at output resolution"),
             ("sharpness_ratio", "mouth sharpness, output / real clip (Laplacian variance; < 0.8: soft)"),
             ("flicker_ratio", "mouth frame-to-frame change, output / real clip (> 1.2: flicker)")]
VOICE_KEYS = [("opening_correlation", "mouth-opening correlation with the speaker's own mouth, lag 0"),
              ("best_lag_ms", "lag of best match (ms, + = the anchor's mouth after the speaker's)"),
              ("best_lag_r", "correlation at that lag"),
              ("opening_std_ratio", "mouth-opening std, anchor / speaker (faces differ: a guide)")]
SYNC_KEYS = [("bilabial_closed", "P/B/M phones with a closed mouth (share)"), ("bilabials", "P/B/M phones judged"),
             ("openness_r", "opening vs phone openness, r at lag 0"),
             ("best_lag_ms", "lag of best match (ms, + = mouth after sound)"), ("best_lag_r", "r at that lag")]


def sync_table(scores: dict, truth: dict | None = None, truth_name: str = "real clip") -> str:
    """The no-ground-truth sync scores (pipeline/sync_score.py), with the real clip's beside them."""
    if truth is None:
        return table([(label, fmt(scores.get(key))) for key, label in SYNC_KEYS])
    rows = [f"| {label} | {fmt(scores.get(key))} | {fmt(truth.get(key))} |" for key, label in SYNC_KEYS]
    return "\n".join([f"| sync score | output | {truth_name} |", "|---|---|---|", *rows]) + "\n"


def speak_sync_section(video: Path) -> list[str]:
    """Sync score of a speak output, from the phones speak saved beside it (``<video>.phones.npz``)."""
    phones_path = video.with_suffix(".phones.npz")
    if not phones_path.exists():
        return []
    from landmarks.phones import Phones
    from pipeline.sync_score import score_video

    scores = score_video(video, Phones.load(phones_path))
    return [f"### Lip sync of `{video.name}` (no ground truth needed)\n\n" + sync_table(scores)]


def table(rows: list[tuple[str, str]], head: tuple[str, str] = ("metric", "value")) -> str:
    lines = [f"| {head[0]} | {head[1]} |", "|---|---|"]
    return "\n".join(lines + [f"| {a} | {b} |" for a, b in rows]) + "\n"


def fmt(value) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def frame_strip(bundle: SpeakerBundle, n: int, out: Path) -> Path:
    """Self-reconstruction of ``n`` template frames from the held-out end of the footage.

    One row per frame, at the renderer's box: template crop | face map | rendered.
    """
    from landmarks.media import iter_frames
    from renderer.inference import frame_inputs

    cache, renderer = bundle.template, bundle.renderer
    valid = np.flatnonzero(cache.valid)
    held_out = valid[valid >= int(0.8 * cache.n_frames)]
    picks = set(held_out[np.linspace(0, len(held_out) - 1, n).round().astype(int)].tolist()) if len(held_out) else set()
    rows = []
    for j, (_, frame) in enumerate(iter_frames(bundle.template_video)):
        if j > max(picks, default=-1):
            break
        if j in picks:
            lm = cache.landmarks[j]
            x = frame_inputs(renderer, frame, cache.crop_boxes[j], lm, lm)
            refs, detail = (renderer.mouth_references(renderer.bank.nearest(x.lips[None]), x.landmarks[None])
                            if renderer.bank is not None else (None, None))
            rendered = renderer.render(x.face_map[None], x.reference[None], x.mask[None], refs, detail)[0]
            rows.append(np.concatenate([x.reference, x.face_map, rendered], axis=1))
    return save_strip(rows, out)


def bundle_section(bundle: SpeakerBundle, out: Path, strip_frames: int) -> list[tuple[str, str]]:
    """(markdown, html-extra) blocks for a bundle."""
    man = bundle.manifest
    blocks = [f"## Speaker bundle: {man['speaker']}\n\n"
              f"`{bundle.root}` — {man['fps']:g} fps, {man['crop_size']} px crops, "
              f"mouth rendered at {bundle.render_size} px, "
              f"trained on `{man['source']['video']}`\n"]
    suff = bundle.template.report
    blocks.append("### Data sufficiency\n\n" + table([
        ("usable minutes", fmt(suff["usable_minutes"])), ("detection rate", fmt(suff["detection_rate"])),
        ("invalid gaps", fmt(suff["invalid_gaps"])),
        ("head roll std (deg)", fmt(suff["head_roll_deg"]["std"])),
        ("mouth opening 5-95 %", f"{suff['mouth_opening']['p5']:.3f} – {suff['mouth_opening']['p95']:.3f}"),
    ] + [("warning", w) for w in suff["warnings"]]))
    a2m = man.get("audio2mouth", {})
    rows = [(f"audio2mouth ({a2m.get('model')}) test {k}", fmt(v)) for k, v in (a2m.get("test") or {}).items()]
    rows += [(f"renderer {k}", fmt(v)) for k, v in (man.get("renderer") or {}).items()]
    blocks.append("### Stage metrics (held-out time block)\n\n" + table(rows))
    curves = []
    for stage, keys in (("audio2mouth", ["train/loss", "val/mse", "val/mouth_corr"]),
                        ("renderer", ["train/loss_g_epoch", "val/psnr", "val/ssim"])):
        logs = sorted((bundle.root / "work" / stage).glob("csv/version_*/metrics.csv"))
        if logs and plot_curves(logs[-1], keys, f"{stage} training", out / f"curves_{stage}.png"):
            curves.append(f"![{stage} training curves](curves_{stage}.png)")
    if curves:
        blocks.append("### Training curves\n\n" + "\n\n".join(curves) + "\n")
    if strip_frames > 0:
        frame_strip(bundle, strip_frames, out / "frames.png")
        blocks.append("### Held-out frames: ground truth | face map | rendered\n\n![frames](frames.png)\n")
    return blocks


def evaluation_section(path: Path, out: Path) -> list[str]:
    report = json.loads(path.read_text())
    voice = report.get("drive") == "voice"  # someone else's voice: scored against the speaker's own mouth
    title = "Another person's voice driving the anchor" if voice else "Evaluation on a held-out clip"
    blocks = [f"## {title}\n\n`{report['clip']}`, {report['segment_s'][0]:.1f}–"
              f"{report['segment_s'][1]:.1f} s, {report['frames_compared']} frames compared\n\n"
              + table([(label, fmt(report.get(key))) for key, label in (VOICE_KEYS if voice else EVAL_KEYS)])]
    series = report.get("series")
    if series:
        plot_opening(series["opening"], series["opening_true"], report["fps"], out / "opening.png",
                     "the speaker's own mouth" if voice else "ground truth")
        blocks.append("### Mouth opening over time\n\n![mouth opening](opening.png)\n")
    strip = Path(report["mouth_strip"]) if report.get("mouth_strip") else None
    if strip is not None and strip.exists():
        shutil.copy2(strip, out / "mouth_closeups.png")
        blocks.append("### Mouth close-ups at output resolution: real clip (top) | output (bottom)\n\n"
                      "![mouth close-ups](mouth_closeups.png)\n")
    if report.get("sync"):
        scores = sync_table(report["sync"], report.get("sync_ground_truth"), "the speaker" if voice else "real clip")
        blocks.append("### Lip sync against the phones\n\n" + scores)
    if report.get("video") and Path(report["video"]).exists():
        blocks.append(video_block(Path(report["video"]), out, "evaluation.mp4"))
    return blocks


def video_block(video: Path, out: Path, name: str) -> str:
    shutil.copy2(video, out / name)
    return f"### Video\n\n[{name}]({name})\n\n<video src=\"{name}\" controls width=\"640\"></video>\n"


def sweep_section(sweep: Path, out: Path) -> list[str]:
    from audio2mouth.compare import compare

    md = compare(sweep, out / "sweep")
    return [f"## audio2mouth comparison (`{sweep}`)\n\n### Table I: accuracy on the test block\n\n"
            f"{md['table1']}\n### Table II: speed\n\n{md['table2']}\n"
            "![mouth opening per model](sweep/mouth_opening.png)\n"]


def markdown_to_html(markdown: str, title: str) -> str:
    """A small converter for what this report writes: headings, tables, images, video, paragraphs."""
    body, table_rows = [], []

    def flush_table() -> None:
        if table_rows:
            head, *rest = table_rows
            body.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr>"
                        + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rest)
                        + "</table>")
            table_rows.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                table_rows.append(cells)
            continue
        flush_table()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.startswith("!["):
            alt, src = line[2:].split("](", 1)
            body.append(f'<p><img src="{html.escape(src.rstrip(")"))}" alt="{html.escape(alt)}"></p>')
        elif line.startswith("<video"):
            body.append(line)
        elif line.strip():
            body.append(f"<p>{html.escape(line).replace('`', '')}</p>")
    flush_table()
    style = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
             "font-size:14px}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def build_report(cfg: DictConfig) -> Path:
    out = Path(required(cfg, "out")).expanduser()
    if not (cfg.get("bundle") or cfg.get("evaluation") or cfg.get("sweep") or cfg.get("video")):
        raise LipsyncError("nothing to report: give bundle=, evaluation=, sweep= and/or video=")
    ensure_writable(out)
    blocks: list[str] = []
    title = "anchor-lipsync report"
    if cfg.get("sweep"):
        sweep = Path(cfg.sweep).expanduser()
        if not sweep.is_dir():
            raise LipsyncError(f"sweep directory not found: {sweep}")
        blocks += sweep_section(sweep, out)
    if cfg.get("bundle"):
        bundle = SpeakerBundle.open(Path(cfg.bundle).expanduser())
        title = f"{bundle.speaker}: anchor-lipsync report"
        blocks += bundle_section(bundle, out, int(cfg.strip_frames))
        blocks += fit_section(bundle.root, out)
    if cfg.get("evaluation"):
        path = Path(cfg.evaluation).expanduser()
        if not path.exists():
            raise LipsyncError(f"evaluation file not found: {path}")
        blocks += evaluation_section(path, out)
    if cfg.get("video"):
        video = Path(cfg.video).expanduser()
        if not video.exists():
            raise LipsyncError(f"video not found: {video}")
        blocks.append(video_block(video, out, video.name))
        blocks += speak_sync_section(video)
    markdown = f"# {title}\n\n" + "\n".join(blocks)
    for name, text in (("report.md", markdown), ("report.html", markdown_to_html(markdown, title))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out / name)
    return out / "report.html"


@exit_on_user_error
def run(cfg: DictConfig) -> Path:
    path = build_report(cfg)
    print(f"report: {path} (and report.md beside it)")
    return path


@hydra.main(config_path="../conf", config_name="report", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()

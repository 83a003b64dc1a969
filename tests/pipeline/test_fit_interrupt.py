"""Ctrl-C during fit's renderer stage: no bundle manifest is left, and a re-run finishes from the checkpoint."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.bundle import MANIFEST, SpeakerBundle

TINY_NET = ["render_model.generator.ngf=4", "render_model.generator.max_channels=16",
            "render_model.discriminator.ndf=4"]
RENDERER = [*TINY_NET, "callbacks.early_stopping=null", "+trainer.limit_train_batches=2",
            "+trainer.limit_val_batches=1"]


def wait_for_stable_file(path: Path, proc: subprocess.Popen, log: Path, timeout_s: float = 240) -> None:
    """Until ``path`` exists and has kept its size for half a second (a checkpoint fully written)."""
    deadline, size = time.monotonic() + timeout_s, -1
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        if path.exists() and path.stat().st_size == size:
            return
        size = path.stat().st_size if path.exists() else -1
        time.sleep(0.5)
    raise AssertionError(f"{path} did not appear")


def test_sigint_during_the_renderer_leaves_no_manifest_and_a_rerun_completes(sample_bundle, sample_dir, tmp_path,
                                                                             compose_app, capsys):
    from pipeline.fit import fit

    out, cache_dir = tmp_path / "anchor", sample_bundle.parent / "cache"
    renderer = ",".join(f'"{o}"' for o in [*RENDERER, "trainer.max_epochs=1000"])
    cmd = [sys.executable, "-m", "pipeline.fit", f"video={sample_dir / 'sample_anchor.mp4'}", "speaker=sample",
           f"out={out}", f"paths.cache_dir={cache_dir}", "probe_batches=0", f"hydra.run.dir={tmp_path / 'logs'}",
           'audio2mouth=["trainer.max_epochs=2"]', f"renderer=[{renderer},\"trainer.enable_progress_bar=false\"]"]
    # SIGINT as a terminal delivers it: a test runner started in the background ignores SIGINT, and
    # its children would inherit that, so the child gets the default disposition back.
    log_path = tmp_path / "fit.log"
    with open(log_path, "w") as log_file:  # a file, not a pipe: a full pipe would stall the child
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, text=True,
                                cwd=Path(__file__).resolve().parents[2],
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            wait_for_stable_file(out / "work" / "renderer" / "checkpoints" / "last.ckpt", proc, log_path)
            proc.send_signal(signal.SIGINT)  # Ctrl-C while the renderer trains its next epochs
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    log = log_path.read_text()
    assert proc.returncode != 0, log[-2000:]
    assert not (out / MANIFEST).exists()  # an incomplete bundle never looks complete
    assert (out / "work" / "audio2mouth" / "results.json").exists()  # the finished stage is kept

    cfg = compose_app("fit", video=sample_dir / "sample_anchor.mp4", out=out, probe_batches=0,
                      **{"paths.cache_dir": cache_dir})
    cfg.audio2mouth = ["trainer.max_epochs=2"]
    cfg.renderer = [*RENDERER, "trainer.max_epochs=4"]
    capsys.readouterr()
    bundle = SpeakerBundle.open(fit(cfg))
    printed = capsys.readouterr().out
    assert "audio2mouth: reusing" in printed and "renderer: resuming from" in printed
    assert bundle.renderer.crop_size == 128 and bundle.audio2mouth.speaker.pca.n_components >= 1
    summary = json.loads((out / "fit_summary.json").read_text())
    assert summary["stages"]["renderer"]["action"] == "resume"

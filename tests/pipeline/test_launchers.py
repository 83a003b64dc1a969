"""Several anchors in one command (joblib, run) and on a SLURM cluster (submitit, composed only)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[2]
TINY_NET = ["render_model.generator.ngf=4", "render_model.generator.max_channels=16",
            "render_model.discriminator.ndf=4"]


@pytest.mark.slow
def test_one_command_fits_two_anchors_in_parallel(sample_bundle, sample_dir, tmp_path):
    # Two anchors: the sample under two names (two speakers, two caches, two bundles).
    for name in ("anna", "ben"):
        shutil.copy(sample_dir / "sample_anchor.mp4", tmp_path / f"{name}.mp4")
    renderer = ",".join(f'"{o}"' for o in [*TINY_NET, "trainer.max_epochs=1", "+trainer.limit_train_batches=2",
                                           "+trainer.limit_val_batches=1", "trainer.enable_progress_bar=false"])
    cmd = [sys.executable, "-m", "pipeline.fit", "-m", "hydra/launcher=fit_local",
           f"video={tmp_path / 'anna.mp4'},{tmp_path / 'ben.mp4'}", f"out={tmp_path}/bundles/${{speaker}}",
           f"paths.cache_dir={tmp_path / 'cache'}", "probe_batches=0", "budget=10m",
           f"hydra.sweep.dir={tmp_path / 'multirun'}", "landmarks.av_offset=0",
           'audio2mouth=["trainer.max_epochs=1","trainer.enable_progress_bar=false"]', f"renderer=[{renderer}]"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    for name in ("anna", "ben"):
        from pipeline.bundle import SpeakerBundle

        bundle = SpeakerBundle.open(tmp_path / "bundles" / name)
        assert bundle.speaker == name  # the speaker is named after its video
        assert json.loads((bundle.root / "fit_summary.json").read_text())["budget_s"] == 600
    assert sorted(p.name for p in (tmp_path / "multirun").iterdir() if p.is_dir()) == ["0", "1"]


def test_submitit_launcher_is_composed_from_the_budget():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="hydra-submitit-launcher is not installed")
    import pipeline.fit  # noqa: F401  (registers the budget_minutes resolver)

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("fit", overrides=["hydra/launcher=fit_slurm", "video=anna.mp4", "out=bundles/${speaker}",
                                        "budget=1h30m", "hydra.launcher.partition=gpu"], return_hydra_config=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["_target_"] == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert launcher["timeout_min"] == 90 + 15  # the budget plus start-up and assembly
    assert launcher["gpus_per_node"] == 1 and launcher["tasks_per_node"] == 1 and launcher["partition"] == "gpu"
    assert cfg.speaker == "anna" and cfg.out == "bundles/anna"

"""fit's budget: the plan and estimate, the summary file, a budget-stopped stage continued by a larger budget."""

from __future__ import annotations

import json

from pipeline.bundle import SpeakerBundle

TINY_NET = ["render_model.generator.ngf=4", "render_model.generator.max_channels=16",
            "render_model.discriminator.ndf=4"]


def test_fit_prints_a_measured_plan_and_writes_its_summary(sample_bundle):
    summary = json.loads((sample_bundle / "fit_summary.json").read_text())
    assert summary["budget_s"] == 45 * 60 and summary["bundle"] == str(sample_bundle)
    for name in ("audio2mouth", "renderer"):
        stage = summary["stages"][name]
        timing = stage["timing"]  # measured on the first batches, not a constant
        assert timing["batch_s"] > 0 and timing["batches_per_epoch"] >= 1 and stage["estimate_s"] > 0
        assert stage["stop"]["stopped"] in ("max_epochs", "early_stopping", "budget")
        assert (sample_bundle / summary["curves"][name]).exists()
    # The tiny fit (1-2 epochs) is limited by its epochs, so its estimate must be of the right size.
    assert 0.3 < summary["estimate_s"] / summary["total_s"] < 3, summary
    assert "renderer best/val_psnr" in summary["metrics"]


def test_budget_stops_the_renderer_and_a_larger_budget_continues_it(sample_bundle, sample_dir, tmp_path,
                                                                   compose_app, capsys):
    from pipeline.fit import fit

    def run(budget: str) -> dict:
        cfg = compose_app("fit", video=sample_dir / "sample_anchor.mp4", out=tmp_path / "b", budget=budget,
                          probe_batches=0, **{"paths.cache_dir": sample_bundle.parent / "cache",
                                              "budget_share.assemble_s": 1})
        cfg.audio2mouth = ["trainer.max_epochs=2", "ensemble=1"]  # one network: less fixed time around the clock
        # Only the clock can stop this renderer: no early stopping, far more epochs than fit in the budget.
        cfg.renderer = [*TINY_NET, "trainer.max_epochs=1000", "callbacks.early_stopping=null",
                        "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1"]
        SpeakerBundle.open(fit(cfg))
        return json.loads((tmp_path / "b" / "fit_summary.json").read_text())

    first = run("25s")
    renderer = first["stages"]["renderer"]
    assert renderer["action"] == "train" and renderer["stop"]["stopped"] == "budget"
    assert renderer["stop"]["train_s"] >= renderer["stop"]["max_time_s"]
    assert first["total_s"] < 25 + 15  # the budget plus the batch in flight and the assembly
    capsys.readouterr()

    second = run("50s")
    out = capsys.readouterr().out
    assert "audio2mouth: reusing" in out and "renderer: resuming from" in out
    renderer2 = second["stages"]["renderer"]
    assert renderer2["action"] == "extend"
    assert renderer2["stop"]["train_s"] > renderer["stop"]["train_s"] + 5  # trained on, not from scratch
    assert renderer2["stop"]["epochs"] > renderer["stop"]["epochs"]
    assert sum(second["spent_s"].values()) < 50 + 20

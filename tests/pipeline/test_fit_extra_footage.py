"""fit with extra footage of the same anchor: prepared on its own, handed to audio2mouth's training."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from landmarks.errors import LipsyncError
from pipeline.fit import extra_footage_configs


def test_extra_footage_entries_become_prepare_configs(compose_app):
    # as typed on the command line
    cfg = compose_app("fit", speaker="anna", video="a.mp4", out="b",
                      extra_footage="[more/b.mp4, {video: c.mp4, audio: c.wav, transcript: c.txt}]")
    first, second = extra_footage_configs(cfg)
    assert (first.video, first.audio, first.speaker) == ("more/b.mp4", None, "anna_extra_b")
    assert (second.video, second.audio, second.transcript) == ("c.mp4", "c.wav", "c.txt")
    assert second.speaker == "anna_extra_c"
    assert cfg.video == "a.mp4" and cfg.speaker == "anna"  # the main footage's config is left alone
    cfg.extra_footage = OmegaConf.create([{"audio": "c.wav"}])
    with pytest.raises(LipsyncError, match="video path"):
        extra_footage_configs(cfg)
    cfg.extra_footage = OmegaConf.create([{"video": "c.mp4", "sound": "c.wav"}])
    with pytest.raises(LipsyncError, match="unknown keys"):
        extra_footage_configs(cfg)


def test_fit_trains_audio2mouth_on_the_extra_footage_too(sample_bundle, sample_dir, tmp_path, compose_app):
    from pipeline.fit import fit
    from tests.pipeline.conftest import TINY_A2M, TINY_RENDERER

    cache_dir = sample_bundle.parent / "cache"  # the main footage's cache is reused
    cfg = compose_app("fit", speaker="sample", video=sample_dir / "sample_anchor.mp4", out=tmp_path / "b",
                      **{"paths.cache_dir": cache_dir})
    cfg.extra_footage = [str(sample_dir / "sample_anchor.mp4")]
    cfg.audio2mouth, cfg.renderer = TINY_A2M, TINY_RENDERER
    bundle = fit(cfg)
    summary = json.loads((bundle / "fit_summary.json").read_text())
    (extra,) = summary["extra_footage"]
    assert extra.startswith(str(cache_dir / "sample_extra_sample_anchor-"))
    results = json.loads((bundle / "work" / "audio2mouth" / "results.json").read_text())
    assert results["extra_caches"] == [extra]


def test_other_anchors_are_bundles_caches_or_footage(sample_bundle, tmp_path, compose_app):
    from pipeline.fit import other_anchor_plan

    cache = sample_bundle / "template"  # a bundle's template is the cache it was fitted on
    cfg = compose_app("fit", speaker="anna", video="a.mp4", out="b")
    cfg.other_anchors = [str(sample_bundle), str(cache), "ben.mp4", {"video": "cy.mp4", "audio": "cy.wav"}]
    ready, to_prepare = other_anchor_plan(cfg)
    assert ready == [cache, cache, None, None]
    assert [(c.video, c.audio, c.speaker) for c in to_prepare] == [("ben.mp4", None, "anna_other_ben"),
                                                                  ("cy.mp4", "cy.wav", "anna_other_cy")]
    (tmp_path / "empty").mkdir()
    cfg.other_anchors = [str(tmp_path / "empty")]
    with pytest.raises(LipsyncError, match="not a speaker cache"):
        other_anchor_plan(cfg)
    cfg.other_anchors = [{"audio": "c.wav"}]
    with pytest.raises(LipsyncError, match="other_anchors entries are a video path"):
        other_anchor_plan(cfg)


def test_fit_pretrains_audio2mouth_on_other_anchors(sample_bundle, sample_dir, tmp_path, compose_app):
    from pipeline.fit import fit
    from tests.pipeline.conftest import TINY_A2M, TINY_RENDERER

    cache_dir = sample_bundle.parent / "cache"
    cfg = compose_app("fit", speaker="sample", video=sample_dir / "sample_anchor.mp4", out=tmp_path / "b",
                      **{"paths.cache_dir": cache_dir})
    cfg.other_anchors = [str(sample_bundle)]  # another anchor's bundle: its template is used as it is
    # the README's recipe for an anchor with little footage: fine-tune at 0.3 x the learning rate
    cfg.audio2mouth, cfg.renderer = [*TINY_A2M, "finetune_lr_scale=0.3"], TINY_RENDERER
    bundle = fit(cfg)
    summary = json.loads((bundle / "fit_summary.json").read_text())
    assert summary["other_anchors"] == [str(sample_bundle / "template")]
    results = json.loads((bundle / "work" / "audio2mouth" / "results.json").read_text())
    assert results["pretrain"]["caches"] == [str(sample_bundle / "template")]
    assert results["pretrain"]["finetune_lr_scale"] == 0.3
    assert results["init_from"] == str(bundle / "work" / "audio2mouth" / "pretrain")
    # the plan counts the batches of both passes: the first's (this anchor's train block plus the other
    # anchor's whole clip) and the second's (this anchor alone)
    first = json.loads((bundle / "work" / "audio2mouth" / "pretrain" / "results.json").read_text())
    per_epoch = [run["train_batches"] // run["epochs"] for run in (first, results)]
    assert per_epoch[0] > per_epoch[1] > 0
    assert summary["stages"]["audio2mouth"]["timing"]["batches_per_epoch"] == sum(per_epoch)

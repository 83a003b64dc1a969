"""The newsroom page: queue, HTTP API and the page itself in a real headless browser.

The browser test needs Debian's ``chromium`` and ``chromium-driver`` (``make
setup`` installs them when root) and ``selenium`` (the ``dev`` extra); it is
skipped with the reason where they are missing. Run as a script, this module
takes the README's screenshot::

    .venv/bin/python tests/pipeline/test_studio.py --bundles BUNDLES_DIR --bundle NAME --out docs/studio.png
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import threading
import time
import urllib.error
import urllib.request
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from landmarks.errors import LipsyncError
from pipeline.stages import compose_stage
from pipeline.studio import build, check_host, close
from pipeline.studio_jobs import RenderQueue, RenderRequest
from pipeline.studio_render import literal

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SENTENCE = "Good evening. Here is the news, read by a neural anchor."


# -- fast: no bundle, no browser ---------------------------------------------------------------------------

def test_user_text_is_never_interpolated_by_the_config():
    from omegaconf import OmegaConf

    for text in ["Costs rose ${oc.env:HOME}", "a \\${x} b", "50 $ and {braces}", "\\\\${", "plain"]:
        assert OmegaConf.create({"t": literal(text)}).t == text


def test_only_loopback_unless_remote_is_allowed(capsys):
    check_host("127.0.0.1", False)
    check_host("::1", False)
    with pytest.raises(LipsyncError, match="allow_remote=true"):
        check_host("0.0.0.0", False)
    check_host("0.0.0.0", True)
    assert "no authentication" in capsys.readouterr().out


def test_queue_renders_one_job_at_a_time_and_says_who_waits(tmp_path):
    running, overlaps, release = [], [], threading.Event()

    def fake_render(job):
        running.append(job.id)
        overlaps.append(len(running))
        release.wait(5)
        job.progress(3, 3)
        running.remove(job.id)
        if job.request.text == "bad":
            raise LipsyncError("text is bad")
        return tmp_path / f"{job.id}.mp4", 1.0

    jobs = RenderQueue(fake_render, history=2).start()
    first, second, third = (jobs.submit(RenderRequest("b", text=t)) for t in ("one", "bad", "three"))
    deadline = time.time() + 5
    while first.state != "running" and time.time() < deadline:
        time.sleep(0.01)
    assert (jobs.ahead_of(second), jobs.ahead_of(third)) == (1, 2)
    release.set()
    while third.state not in ("done", "failed") and time.time() < deadline:
        time.sleep(0.01)
    assert [first.state, second.state, third.state] == ["done", "failed", "done"]
    assert second.message == "text is bad" and max(overlaps) == 1
    assert [j.id for j in jobs.jobs()] == [3, 2]  # the history keeps the last two
    jobs.stop(5)


def test_stopping_the_server_ends_a_render_at_its_next_frame_and_leaves_no_partial_file(tmp_path):
    from landmarks.writer import VideoWriter
    from pipeline.studio_render import counting_frames

    def render(job):  # writes frames the way speak does, through the one VideoWriter
        with counting_frames(job.progress), VideoWriter(tmp_path / "out.mp4", 25, np.zeros(16_000 * 20)) as writer:
            for _ in range(writer.n_frames):
                writer.write(np.zeros((16, 16, 3), np.uint8))
                time.sleep(0.01)
        return tmp_path / "out.mp4", 20.0

    jobs = RenderQueue(render).start()
    job = jobs.submit(RenderRequest("b", text="x"))
    deadline = time.time() + 10
    while job.frames < 5 and time.time() < deadline:
        time.sleep(0.01)
    assert job.stage().startswith("rendering frame") and job.n_frames == 500
    jobs.stop(10)
    assert job.state == "failed" and job.message == "the server stopped during this render"
    assert job.frames < 500 and list(tmp_path.iterdir()) == []


def test_renders_go_through_speak_run_and_leave_nothing_half_written(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from pipeline import studio_render
    from pipeline.bundle import FORMAT, FORMAT_VERSION
    from pipeline.studio_bundles import BundleShelf
    from pipeline.studio_jobs import Job

    bundle = tmp_path / "bundles" / "anna"
    for part in ("audio2mouth", "renderer", "template"):
        (bundle / part).mkdir(parents=True)
    (bundle / "bundle.json").write_text(json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION}))
    seen, words = [], []

    def fake_run(cfg):  # what speak's run() does to the file system: the mp4 and maybe files beside it
        seen.append(cfg)
        words.append(Path(cfg.transcript).read_text() if cfg.get("transcript") else None)
        out = Path(cfg.out)
        out.write_bytes(b"mp4")
        out.with_suffix(".phones.npz").write_bytes(b"npz")
        if cfg.audio:
            raise LipsyncError(f"not a readable media file: {cfg.audio} (InvalidDataError)")
        return SimpleNamespace(audio_s=1.5)

    monkeypatch.setattr(studio_render, "speak_run", lambda: fake_run)
    out_dir = tmp_path / "renders"
    render = studio_render.SpeakRenderer(BundleShelf(bundle.parent), out_dir, tmp_path / "cache")
    path, seconds = render(Job(1, RenderRequest("anna", text="It cost ${oc.env:HOME}")))
    assert seen[0].text == "It cost ${oc.env:HOME}" and seen[0].bundle == str(bundle.resolve())
    assert seconds == 1.5 and path.name.endswith("_001_anna.mp4")
    assert sorted(p.name for p in out_dir.iterdir()) == [path.name, path.stem + ".phones.npz"]

    upload = tmp_path / "f00d.m4a"
    with pytest.raises(LipsyncError, match=r"^not a readable media file: bulletin.m4a \(InvalidDataError\)$"):
        render(Job(2, RenderRequest("anna", audio=upload, audio_name="bulletin.m4a", transcript="Good evening")))
    assert words == [None, "Good evening" if render.takes_transcript else None]  # given to speak as a file
    assert sorted(p.name for p in out_dir.iterdir()) == [path.name, path.stem + ".phones.npz"]


# -- slow: a real bundle behind a real server ----------------------------------------------------------------

def studio_config(bundles: Path, out_dir: Path, **overrides):
    items = {"bundles_dir": bundles, "out_dir": out_dir, "port": 0, "paths.cache_dir": out_dir / "cache", **overrides}
    return compose_stage("studio", [f"{k}={v}" for k, v in items.items()])


@pytest.fixture
def studio(sample_bundle, tmp_path):
    """A served studio over a folder holding the sample bundle and one of another format version."""
    bundles = tmp_path / "bundles"
    bundles.mkdir()
    (bundles / "sample").symlink_to(sample_bundle)
    manifest = json.loads((sample_bundle / "bundle.json").read_text())
    (bundles / "old").mkdir()
    (bundles / "old" / "bundle.json").write_text(json.dumps({**manifest, "format_version": 99}))
    server = serve(studio_config(bundles, tmp_path / "renders", max_upload_mb=1))
    yield server
    server.shutdown()
    close(server)


def serve(cfg):
    server = build(cfg)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server


def call(server, path: str, body: bytes | None = None, content_type: str = "application/json"):
    headers = {"X-Studio": "1", "Content-Type": content_type} if body is not None else {}
    request = urllib.request.Request(server.url.rstrip("/") + path, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            data = response.read()
            return response.status, json.loads(data) if response.headers["Content-Type"] == "application/json" else data
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def expected_seconds(text: str) -> float:
    from pipeline.tts import synthesize

    return len(synthesize(text)) / 16_000


def check_mp4(data: bytes, seconds: float, tmp_path: Path) -> None:
    """Playable H.264 + AAC with one frame per 1/fps of the audio (rounded up)."""
    path = tmp_path / "got.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
        fps = float(video.average_rate)
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == int(np.ceil(seconds * fps - 1e-6))


def wait_done(server, job_id: int, timeout: float = 300) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, job = call(server, f"/api/jobs/{job_id}")
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"render {job_id} did not finish in {timeout} s")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (make setup installs it)")
def test_http_api_renders_text_and_refuses_bad_input_in_one_line(studio, tmp_path):
    status, listing = call(studio, "/api/bundles")
    by_name = {b["name"]: b for b in listing["bundles"]}
    assert by_name["sample"]["ok"] and by_name["sample"]["metrics"] and by_name["sample"]["footage"]
    assert not by_name["old"]["ok"] and "format version 99" in by_name["old"]["error"]
    assert call(studio, by_name["sample"]["still"])[1][:2] == b"\xff\xd8"  # a JPEG

    refusals = [
        ({"bundle": "sample", "text": "   "}, "text is empty"),
        ({"bundle": "old", "text": "hi"}, "format version 99"),
        ({"bundle": "../sample", "text": "hi"}, "no speaker bundle"),
        ({"bundle": "sample", "audio": "nope"}, "choose it again"),
    ]
    for request, message in refusals:
        status, answer = call(studio, "/api/render", json.dumps(request).encode())
        assert status == 400 and message in answer["error"] and "\n" not in answer["error"]
    status, answer = call(studio, "/api/upload?kind=audio&name=a.wav", b"not audio at all", "application/octet-stream")
    assert status == 400 and "a.wav is not a readable audio file" in answer["error"]
    status, answer = call(studio, "/api/upload?kind=audio&name=big.wav", bytes(3 << 20), "application/octet-stream")
    assert status == 413 and answer["error"] == "big.wav is 3.0 MB; the limit is 1 MB (max_upload_mb=)"
    forged = urllib.request.Request(studio.url + "api/render", data=b"{}")  # no X-Studio header: another site
    with pytest.raises(urllib.error.HTTPError, match="403"):
        urllib.request.urlopen(forged, timeout=10)

    status, job = call(studio, "/api/render", json.dumps({"bundle": "sample", "text": SENTENCE}).encode())
    assert status == 202 and job["state"] in ("queued", "running")
    job = wait_done(studio, job["id"])
    assert job["state"] == "done", job["message"]
    status, data = call(studio, job["video"])
    check_mp4(data, expected_seconds(SENTENCE), tmp_path)
    renders = studio.studio.shelf.root.parent / "renders"
    assert [p.name for p in renders.glob("*.mp4")] == [job["filename"]]
    assert not [p for p in renders.iterdir() if p.name.startswith(".") and p.name != ".uploads"]
    assert not list((renders / ".uploads").glob("*"))  # refused uploads are not kept


@pytest.mark.slow
def test_http_api_renders_uploaded_audio_on_an_uploaded_template(studio, sample_bundle, tmp_path):
    from landmarks.synthetic_audio import speech_like

    samples = (speech_like(1.5, rate=44_100, seed=2) * 32767).astype("<i2")
    with wave.open(str(tmp_path / "bulletin.wav"), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(44_100)  # any rate: speak resamples
        out.writeframes(samples.tobytes())
    uploads = {}
    for kind, path in (("audio", tmp_path / "bulletin.wav"), ("template", sample_bundle / "template" / "template.mp4")):
        status, answer = call(studio, f"/api/upload?kind={kind}&name={path.name}", path.read_bytes(),
                              "application/octet-stream")
        assert status == 200, answer
        uploads[kind] = answer["upload"]
    request = {"bundle": "sample", **uploads, "template_start_s": 2.0}
    if call(studio, "/api/bundles")[1]["transcript"]:  # this speak aligns phones to the words when given
        request["transcript"] = "good evening"
    status, job = call(studio, "/api/render", json.dumps(request).encode())
    assert status == 202 and job["what"] == "audio: bulletin.wav"
    job = wait_done(studio, job["id"])
    assert job["state"] == "done", job["message"]
    check_mp4(call(studio, job["video"])[1], len(samples) / 44_100, tmp_path)
    assert not list((studio.studio.uploads_dir).glob("*"))  # the job's uploads are gone with it


# -- the page in a real browser ---------------------------------------------------------------------------

def browser_missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium not installed (pip install -e '.[dev]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).exists():
            return f"no headless browser: {path} not found (apt-get install {package}, or make setup as root)"
    return None


NO_BROWSER = browser_missing()


def browser(profile: Path):
    """Headless Debian chromium through chromedriver."""
    if NO_BROWSER:
        pytest.skip(NO_BROWSER)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,1000", "--mute-audio", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def render_on_page(driver, url: str, bundle: str, text: str, timeout: float = 300) -> float:
    """Choose ``bundle``, type ``text``, press Render; returns the video element's duration (s)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    card = WebDriverWait(driver, 20).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, f"label.bundle[data-bundle='{bundle}']")))
    card.click()
    box = driver.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.ID, "render").click()
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("const v = document.getElementById('video');"
                                   "return !v.hidden && v.readyState >= 1 && isFinite(v.duration);")
        or d.find_element(By.ID, "message").is_displayed())
    message = driver.find_element(By.ID, "message")
    assert not message.is_displayed(), message.text
    return float(driver.execute_script("return document.getElementById('video').duration"))


@pytest.mark.slow
@pytest.mark.skipif(NO_BROWSER is not None, reason=NO_BROWSER or "")
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (make setup installs it)")
def test_page_in_a_headless_browser_renders_a_sentence_and_shows_bad_input(studio, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser(tmp_path / "profile")
    try:
        seconds = render_on_page(driver, studio.url, "sample", SENTENCE)
        assert abs(seconds - expected_seconds(SENTENCE)) < 0.1
        link = driver.find_element(By.ID, "download")
        assert link.get_attribute("download").endswith("_sample.mp4")
        with urllib.request.urlopen(link.get_attribute("href"), timeout=30) as response:
            assert "attachment" in response.headers["Content-Disposition"]
            check_mp4(response.read(), expected_seconds(SENTENCE), tmp_path)
        assert "done" in driver.find_element(By.ID, "history").text

        old = driver.find_element(By.CSS_SELECTOR, "label.bundle[data-bundle='old']")
        assert "format version 99" in old.text  # listed, with the reason it cannot be chosen
        driver.find_element(By.ID, "text").clear()
        driver.find_element(By.ID, "render").click()
        message = driver.find_element(By.ID, "message")
        WebDriverWait(driver, 20).until(lambda d: message.is_displayed())
        assert message.text == "text is empty"
    finally:
        driver.quit()


def screenshot(bundles: Path, bundle: str, text: str, out: Path) -> None:
    """Render ``text`` with ``bundle`` on the page and save a screenshot of the result to ``out``."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        server = serve(studio_config(bundles, Path(tmp) / "renders"))
        driver = browser(Path(tmp) / "profile")
        try:
            driver.set_window_size(1280, 1250)
            render_on_page(driver, server.url, bundle, text)
            driver.execute_script("const v = document.getElementById('video'); v.currentTime = v.duration / 2;")
            time.sleep(1.0)
            driver.save_screenshot(str(out))
        finally:
            driver.quit()
            server.shutdown()
            close(server)
    print(f"wrote {out}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Screenshot of the newsroom page after a render.")
    parser.add_argument("--bundles", type=Path, required=True)
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--text", default=SENTENCE)
    parser.add_argument("--out", type=Path, default=Path("docs/studio.png"))
    args = parser.parse_args()
    screenshot(args.bundles, args.bundle, args.text, args.out)

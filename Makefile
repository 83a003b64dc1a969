# Two commands matter on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEMO   ?= demo_out

.PHONY: setup espeak browser demo test lint bench clean

setup: $(VENV)/.installed espeak browser

# espeak-ng speaks `text=` for lipsync-speak; Debian package, installed when we are root.
espeak:
	@command -v espeak-ng >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null; \
	  else echo "note: install espeak-ng (sudo apt-get install espeak-ng) to use text= in lipsync-speak"; fi; }

# chromium + chromedriver drive the newsroom page in its browser test; Debian packages, installed when we are root.
browser:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "note: install chromium and chromium-driver to run the newsroom page's browser test"; fi; }

# torch's CPU build first (pinned), so nothing else pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev,studio]"
	touch $@

# The whole pipeline on the built-in synthetic anchor, a few minutes on a CPU.
demo: setup
	$(VENV)/bin/lipsync-sample out_dir=$(DEMO)/sample
	$(VENV)/bin/lipsync-fit speaker=sample video=$(DEMO)/sample/sample_anchor.mp4 out=$(DEMO)/bundle \
	  paths.cache_dir=$(DEMO)/cache hydra.run.dir=$(DEMO)/logs/fit \
	  'renderer=["trainer.max_time=00:00:03:00"]'
	$(VENV)/bin/lipsync-speak bundle=$(DEMO)/bundle out=$(DEMO)/news.mp4 hydra.run.dir=$(DEMO)/logs/speak \
	  'text="Good evening. This is the evening news, read by a neural anchor."'
	$(VENV)/bin/lipsync-evaluate bundle=$(DEMO)/bundle clip=$(DEMO)/sample/sample_anchor.mp4 clip_start_s=32 \
	  out=$(DEMO)/evaluation.json paths.cache_dir=$(DEMO)/cache hydra.run.dir=$(DEMO)/logs/evaluate
	$(VENV)/bin/lipsync-report bundle=$(DEMO)/bundle evaluation=$(DEMO)/evaluation.json video=$(DEMO)/news.mp4 \
	  out=$(DEMO)/report hydra.run.dir=$(DEMO)/logs/report
	@echo; echo "demo done:"; echo "  video:  $(DEMO)/news.mp4"; echo "  report: $(DEMO)/report/report.html"

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check landmarks audio2mouth renderer pipeline tests benchmarks

bench: setup
	$(PY) benchmarks/bench_prepare.py
	$(PY) benchmarks/bench_speak.py

clean:
	rm -rf $(DEMO) outputs multirun

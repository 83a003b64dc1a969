# Two commands matter on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEMO   ?= demo_out

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed

# torch's CPU build first (pinned), so nothing else pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

demo: setup
	$(VENV)/bin/lipsync-sample out_dir=$(DEMO)/cache/sample
	$(VENV)/bin/lipsync-prepare footage=sample paths.cache_dir=$(DEMO)/cache hydra.run.dir=$(DEMO)/prepare
	@echo "demo done: speaker cache and its report under $(DEMO)/cache/"

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check landmarks audio2mouth renderer tests benchmarks

bench: setup
	$(PY) benchmarks/bench_prepare.py

clean:
	rm -rf $(DEMO) outputs multirun

# make install: a virtual environment in $(VENV) (default .venv) with torch and this package
# (editable). An existing environment is reused: torch is installed only when it does not import,
# and the package only when pyproject.toml changed. Use another environment with VENV=path.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_PINS := torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.gan-lightning-installed

.PHONY: install test test-all train bench lint format docs docs-serve clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch, torchvision" 2>/dev/null \
		|| $(PY) -m pip install --quiet $(TORCH_PINS)
	$(PY) -m pip install --quiet -e '.[dev,wandb,docs]'
	@touch $@

test: install
	$(PY) -m pytest -m "not slow" -q -n 2

test-all: install  # slow tests one at a time: each is a long training run using both cores
	$(PY) -m pytest -m "not slow" -q -n 2
	$(PY) -m pytest -m slow -q

train: install
	$(PY) -m gan_lightning

bench: install  # framework vs plain loop, data loader, memory; about 10 minutes on 2 cores
	$(PY) experiments/benchmarks/bench.py --out experiments/benchmarks/results.json

docs: install  # the docs site in site/; --strict: a broken link or a page left out fails (no --quiet: it hides the warnings --strict counts)
	cd docs && NO_MKDOCS_2_WARNING=1 $(abspath $(PY)) -m mkdocs build --strict

docs-serve: install  # preview at http://127.0.0.1:8000 while editing docs/pages/
	cd docs && NO_MKDOCS_2_WARNING=1 $(abspath $(PY)) -m mkdocs serve

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf outputs multirun lightning_logs .pytest_cache .ruff_cache site

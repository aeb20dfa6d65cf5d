# Two entry points (README): `make run` (main job) and `make test`. Both set up .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
# Users with a GPU may override, e.g. `make run TORCH_SPEC=torch==2.13.0+cu126`.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean-venv

# pip prints its own progress (no --quiet): the first install downloads torch and more, minutes.
$(STAMP): pyproject.toml
	@echo "[1/3] creating the virtual environment $(VENV)"
	python3 -m venv $(VENV)
	@echo "[2/3] installing $(TORCH_SPEC) (the largest download)"
	$(PY) -m pip install "$(TORCH_SPEC)"
	@echo "[3/3] installing decompzoo and its dependencies (-e .[dev])"
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)
	@echo "set-up done; next runs of make skip it"

run: $(STAMP)
	$(VENV)/bin/zoo main $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check zoo plugins datasets evaluation tests bench experiments

bench: $(STAMP)
	for f in bench/bench_*.py; do $(PY) $$f || exit 1; done

clean-venv:
	rm -rf $(VENV)

# Set-up and the two quick-start jobs. Everything installs into .venv from the package registries.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch; installed first so that the torch extra finds it satisfied.
TORCH := torch==2.13.0

.PHONY: demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

# Chromium and its driver from the OS packages, for the browser test of the training report
# (tests/nn/test_nn_report_browser.py; skipped, with its reason, where they cannot be installed)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(VENV)/.chromium:
	@mkdir -p $(VENV)
	@(command -v chromium >/dev/null && command -v chromedriver >/dev/null) || \
	  ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver) || \
	  echo "Chromium could not be installed: the report's browser test will be skipped"
	touch $@

demo: $(BIN)/.installed
	$(BIN)/losskit demo --out losskit-demo

test: $(BIN)/.installed $(VENV)/.chromium
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/python -m pytest

bench: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/bench_cross_entropy.py
	$(BIN)/python benchmarks/bench_catalogue.py
	$(BIN)/python benchmarks/bench_numpy_jax.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_compare.py
	$(BIN)/python benchmarks/bench_real_data.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

# Two entry points that do all the set-up themselves: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
DATA ?= $(if $(SWEEPLAB_DATA),$(SWEEPLAB_DATA),../shared/data)
# One stamp per tier: the demo needs only the core; the suite needs `dev` (every extra).
CORE := $(VENV)/.installed-core
DEV := $(VENV)/.installed-dev

.PHONY: demo test setup browser lint clean device-bundle device-rehearse

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

$(CORE): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -e .
	touch $(CORE)

$(DEV): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	touch $(CORE) $(DEV)

setup: $(DEV)

# Headless Chromium for the report's browser test (Debian's package; needs root or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

demo: $(CORE)
	$(VENV)/bin/sweeplab run q1 --seeds 3 --epochs 2 --data-dir $(DATA)
	$(VENV)/bin/sweeplab report q1 --data-dir $(DATA) --out report.html

# tests_jax/ runs in its own pytest process: Keras has one backend per process (JAX there).
# Two test files at a time (pytest-xdist, a file's tests in one worker): on the 2-core CI
# machine 1,294 s -> 700 s for tests/; more workers would only share the same two cores.
test: $(DEV) browser
	SWEEPLAB_TEST_DATA=$(abspath $(DATA)) $(VENV)/bin/python -m pytest -q -n 2 --dist loadfile
	SWEEPLAB_TEST_DATA=$(abspath $(DATA)) $(VENV)/bin/python -m pytest -q -n 2 --dist loadfile tests_jax

lint: $(DEV)
	$(VENV)/bin/ruff check src tests tests_jax bench

clean:
	rm -rf $(VENV) sweeplab.db sweeplab.db-wal sweeplab.db-shm report.html

# The GPU check (bench/device_check.sh; bench/README.md, "GPU check"). device-bundle writes
# its carry folder (git-ignored, <= 60 MiB: wheels the GPU image lacks, MNIST, a CIFAR-10
# subset, manifest.json). device-rehearse runs the check on this CPU with tiny sizes, offline,
# in a venv built like the GPU image (its packages, no TensorFlow) plus the bundle's wheels.
BUNDLE ?= .device-bundle
REHEARSE_VENV ?= .rehearse-venv
# Python 3.12 as on the GPU image (the bundle's optree wheel is cp312): the first that runs
# (pyenv's shim names python3.12 even where it cannot start it).
REHEARSE_PYTHON ?= $(firstword $(foreach p,python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12),$(shell $(p) -c '' >/dev/null 2>&1 && echo $(p))) $(PYTHON))
# the GPU image's packages that sweeplab on JAX uses (.library KINDS.md's list), CPU builds
IMAGE_PACKAGES = jax==0.11.2 jaxlib==0.11.2 pandas matplotlib scipy rich h5py pytest absl-py ml-dtypes packaging
# and, since a search runs there (tests_jax, issue 31), the image's tqdm (Optuna imports it)
# and statsmodels (the race's Holm correction): a stamp of its own, so a venv built before
# gets them without being built again
SEARCH_PACKAGES = tqdm statsmodels

# Building the bundle needs only pip (its `pip download`) and NumPy (the CIFAR-10 subset) in
# the venv, not sweeplab and its 1.3 GB of TensorFlow: a fresh clone makes the venv first.
BUNDLE_TOOLS := $(VENV)/.installed-bundle-tools

$(BUNDLE_TOOLS): | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet numpy
	touch $@

$(BUNDLE)/manifest.json: bench/device_check.py | $(BUNDLE_TOOLS)
	$(VENV)/bin/python bench/device_check.py --build-bundle $(BUNDLE) --data-dir $(DATA)

device-bundle: $(BUNDLE)/manifest.json

$(REHEARSE_VENV)/.built:
	$(REHEARSE_PYTHON) -m venv $(REHEARSE_VENV)
	$(REHEARSE_VENV)/bin/pip install --quiet $(IMAGE_PACKAGES)
	touch $@

$(REHEARSE_VENV)/.built-search: $(REHEARSE_VENV)/.built
	$(REHEARSE_VENV)/bin/pip install --quiet $(SEARCH_PACKAGES)
	touch $@

device-rehearse: $(BUNDLE)/manifest.json $(REHEARSE_VENV)/.built $(REHEARSE_VENV)/.built-search
	REHEARSE_PYTHON=$(REHEARSE_VENV)/bin/python BUNDLE=$(BUNDLE) bench/device_check.sh --rehearse

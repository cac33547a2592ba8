# Everything installs into .venv with uv (itself installed from PyPI into .tools). Only python3.11 and make are needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV := .tools/bin/uv
STAMP := $(VENV)/.installed

.PHONY: demo test test-quick test-e2e e2e e2e-deferral test-compat compat-cells dist browser proxy lint bench bench-quick emulator clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.5"

$(STAMP): pyproject.toml airflow_provider_eightbyeight/__init__.py $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --python $(BIN)/python -e ".[dev]"
	touch $(STAMP)

## demo: start the 8x8 emulator and run the main job against it (prints what moved and where).
demo: $(STAMP)
	$(BIN)/python -m example_dags.run_demo

## test: lint, type-check and run the whole test suite, end-to-end tests included (what CI runs).
test: $(STAMP) lint browser proxy
	$(BIN)/python -m pytest

## test-quick: the suite without the slow reliability scenarios and the end-to-end tests.
test-quick: $(STAMP)
	$(BIN)/python -m pytest -m "not reliability and not e2e"

## e2e / test-e2e: only the end-to-end tests (a running Airflow deployment and headless Chromium), ~2 minutes.
e2e test-e2e: $(STAMP) browser
	$(BIN)/python -m pytest tests/e2e

## e2e-deferral: the deferral race loop (not in `make test`): each example that defers (restore, bulk, the
## deferrable sensor) RUNS times in a row (default 20) on the end-to-end deployment; prints a table.
e2e-deferral: $(STAMP)
	EIGHTBYEIGHT_DEFERRAL_RUNS=$(or $(RUNS),20) $(BIN)/python -m pytest tests/e2e/test_deferral_race.py

## dist: build the sdist and the wheel into dist/ and check them (every module, py.typed, entry points, metadata,
## twine check).
dist: $(STAMP)
	rm -rf dist build
	$(UV) build --quiet --python $(PYTHON) --out-dir dist
	$(BIN)/python scripts/check_dist.py dist

## test-compat: install the built wheel into fresh environments (Airflow 2.11, 3.0, 3.1, 3.2 and 3.3 on Python
## 3.10-3.13) and run the quick suite in each; prints the matrix. Environments are reused (.compat/).
test-compat: dist proxy browser
	$(MAKE) --no-print-directory compat-cells

## compat-cells: the matrix on the wheel already in dist/ (`make dist` first; .ci/run runs it beside `make test`).
compat-cells: $(STAMP)
	@ls dist/*.whl >/dev/null 2>&1 || { echo "no wheel in dist/: run make dist first" >&2; exit 1; }
	$(BIN)/python scripts/compat.py $$(ls dist/*.whl)

## proxy: Debian's tinyproxy, the real forward proxy of the proxy and TLS tests (tests/hooks/test_network.py).
proxy:
	@command -v tinyproxy >/dev/null || test -x /usr/bin/tinyproxy || { \
		if [ "$$(id -u)" = 0 ]; then apt-get install -y -q tinyproxy >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q tinyproxy >/dev/null; }; \
		elif command -v sudo >/dev/null; then sudo apt-get install -y -q tinyproxy >/dev/null; \
		else echo "Install Debian's tinyproxy (apt-get install tinyproxy) for the proxy tests" >&2; exit 1; fi; }

## browser: Debian's Chromium for the UI tests (browsers cannot be downloaded by Playwright here).
browser:
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
		elif command -v sudo >/dev/null; then sudo apt-get install -y -q chromium >/dev/null; \
		else echo "Install Debian's chromium (apt-get install chromium) for the UI tests" >&2; exit 1; fi; }

lint: $(STAMP)
	$(BIN)/ruff check airflow_provider_eightbyeight example_dags tests benchmarks scripts
	$(BIN)/ruff format --check airflow_provider_eightbyeight example_dags tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

## bench: the performance benchmark (ceiling, plain client, ours); see benchmarks/README.md.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

## bench-quick: a small smoke run of the benchmark (under two minutes).
bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks.run --quick

## emulator: run the emulator in the foreground (Ctrl-C to stop).
emulator: $(STAMP)
	$(BIN)/eightbyeight-emulator --regions us-east,uk

clean:
	rm -rf $(VENV) .tools .demo

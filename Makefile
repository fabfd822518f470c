# Two entry points do all the set-up on a fresh Debian 12 machine:
#   make demo   - simulator + exporter (memory store) on the shipped demo config
#   make test   - system packages, virtualenv, lint, type check and the whole test suite
#   make lock   - refresh requirements/*.lock after a change to pyproject.toml
#   make dashboards - regenerate deploy/grafana/*.json from src/github_stats_exporter/dashboards/
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# benchmarks/ appears with the first benchmark; lint whatever of these exists.
LINT_PATHS := $(wildcard src tests benchmarks setup.py)

.PHONY: demo test lint typecheck unit system-deps bench clean lock dashboards

LOCK_DEV     := requirements/dev.lock
LOCK_RUNTIME := requirements/runtime.lock
UV_COMPILE    = $(BIN)/uv pip compile -q --universal --python-version 3.11 --generate-hashes \
                pyproject.toml requirements/build.in

# Every package comes from the hashed lock; the project itself is installed without resolving anything.
$(STAMP): pyproject.toml setup.py src/github_stats_exporter/scrape/_copilot_sums.c $(LOCK_DEV)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(LOCK_DEV)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

# Re-resolve both lock files after pyproject.toml changed, keeping every pin that still fits;
# `make lock UPGRADE=--upgrade` moves every package to the newest version its range allows.
lock: $(STAMP)
	$(UV_COMPILE) $(UPGRADE) --extra dev -o $(LOCK_DEV)
	$(UV_COMPILE) $(UPGRADE) --extra redis --extra rabbitmq -o $(LOCK_RUNTIME)

# The Grafana dashboards are generated from code; tests/unit/test_dashboards.py fails when they are stale.
dashboards: $(STAMP)
	$(BIN)/python -m github_stats_exporter.dashboards deploy/grafana

demo: $(STAMP)
	$(BIN)/github-stats-exporter demo

system-deps:
	bash scripts/system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit tests/contract

# The suite runs the C loop of the Copilot mapper next to the Python one; it must have been built.
test: system-deps $(STAMP) lint typecheck
	@$(BIN)/python -c 'import github_stats_exporter.scrape._copilot_sums' 2>/dev/null || { \
	  echo "the C loop src/github_stats_exporter/scrape/_copilot_sums.c did not build: install a C compiler" \
	       "and the Python headers (scripts/system-deps.sh), then rm $(STAMP) and run make test again" >&2; exit 1; }
	bash scripts/pytest.sh

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

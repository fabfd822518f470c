#!/usr/bin/env bash
# Runs the whole test suite under branch coverage and enforces the gate in pyproject.toml
# ([tool.coverage.report] fail_under). pytest exits 5 when it collected nothing: for us that is a broken
# suite (a wrong path or an import-time skip), never a pass, so it is reported as a failure.
# Arguments go to pytest; with arguments (a subset of the suite) the coverage gate is not applied.
set -uo pipefail
cd "$(dirname "$0")/.."
rm -f .coverage
.venv/bin/coverage run -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests (exit 5): treating as failure" >&2
  exit 1
fi
if [ "$rc" -ne 0 ]; then
  exit "$rc"
fi
if [ "$#" -eq 0 ]; then
  .venv/bin/coverage report || { echo "branch coverage is below the gate (pyproject.toml)" >&2; exit 1; }
fi

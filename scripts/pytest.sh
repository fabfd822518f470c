#!/usr/bin/env bash
# Runs the whole test suite. pytest exits 5 when it collected nothing: for us that is a broken
# suite (a wrong path or an import-time skip), never a pass, so it is reported as a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests (exit 5): treating as failure" >&2
  exit 1
fi
exit "$rc"

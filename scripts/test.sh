#!/usr/bin/env bash
# Run the whole test suite against real kubo and Docker; "no tests ran" (pytest's 5) is a failure.
cd "$(dirname "$0")/.."
.venv/bin/pytest "$@"
rc=$?
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests: treating that as a failure" >&2
  exit 1
fi
exit "$rc"

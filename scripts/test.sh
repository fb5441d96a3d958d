#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what is missing (scripts/setup.sh),
# starts the local MariaDB primary + replica and Redis (tests that need servers of their own
# start them), checks lint, then runs pytest against the real servers. Extra arguments go
# to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/wework db up
.venv/bin/wework cache up
echo "==> ruff"
.venv/bin/ruff check .
echo "==> pytest"
# Two workers: the suite is mostly waiting on MariaDB, and each worker has its own
# databases (see tests/conftest.py).
exec .venv/bin/pytest -n 2 "$@"

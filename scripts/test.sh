#!/usr/bin/env bash
# Install everything the tests need (see setup.sh) and run the whole suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k chat -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,demo
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Install everything the tests need (see setup.sh) and run the whole suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k chat -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,demo
# The end-to-end tests (tests/e2e) drive the installed app in tmux.
if ! command -v tmux >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq tmux >/dev/null || echo "tmux not installed: tests/e2e will be skipped"
fi
exec .venv/bin/python -m pytest "$@"

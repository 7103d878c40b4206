#!/usr/bin/env bash
# Static checks (CI runs them after the tests): ruff on the package, mypy on the engine.
# Expects the environment scripts/test.sh (or setup.sh with the test extra) installed.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check genai_tui
.venv/bin/mypy

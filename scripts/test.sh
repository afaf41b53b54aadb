#!/usr/bin/env bash
# Sets up the project's virtualenv from pyproject.toml and runs the whole test suite.
# Usage: ./scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e ".[test]"
exec python -m pytest "$@"

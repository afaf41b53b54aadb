#!/usr/bin/env bash
# Sets up the project's virtualenv from pyproject.toml and runs the whole test suite.
# Usage: ./scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e ".[test]"
# tests/web drives Debian's Chromium through Playwright (browser downloads do not work here).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get install -y -qq chromium >/dev/null 2>&1 \
        || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)) \
        || echo "warning: could not install chromium; the browser tests will be skipped" >&2
fi
# tests/keys signs through a real SoftHSM2 token (PKCS#11); without it those tests are skipped.
if ! command -v softhsm2-util >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get install -y -qq softhsm2 >/dev/null 2>&1 \
        || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null)) \
        || echo "warning: could not install softhsm2; the PKCS#11 key backend tests will be skipped" >&2
fi
exec python -m pytest "$@"

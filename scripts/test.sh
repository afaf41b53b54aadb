#!/usr/bin/env bash
# Sets up the project's virtualenv from pyproject.toml and runs the whole test suite.
# Usage: ./scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e ".[test]"
# Debian packages some tests need, installed only when missing, as root, with apt-get (never a
# browser download): each is announced with its reason before anything is installed; without it
# those tests are skipped.
install_debian_package() {  # PACKAGE COMMAND-IT-PROVIDES WHY
    local package=$1 provides=$2 why=$3
    if command -v "$provides" >/dev/null || [ -x "$provides" ]; then
        return 0
    fi
    if ! command -v apt-get >/dev/null || [ "$(id -u)" != 0 ]; then
        echo "note: $package is not installed (needs root and apt-get): $why will be skipped" >&2
        return 0
    fi
    echo "Installing the Debian package $package with apt-get: $why need it." >&2
    (apt-get install -y -qq "$package" >/dev/null 2>&1 \
        || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null)) \
        || echo "warning: could not install $package; $why will be skipped" >&2
}
install_debian_package chromium /usr/bin/chromium "the browser tests (tests/web, Playwright drives Chromium)"
install_debian_package softhsm2 softhsm2-util "the PKCS#11 key backend tests (tests/keys, a SoftHSM2 token)"
exec python -m pytest "$@"

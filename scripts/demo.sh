#!/usr/bin/env bash
# A walk-through of the command-line tool, no service involved: sets up the virtualenv, makes
# development keys in the home's keys/ (first run only; `originmark info` shows where), signs a generated image, then verifies and
# inspects it in-process. (The README's first command, scripts/run.sh, starts the HTTP service.)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e .
originmark --help
originmark info --format json | python -c 'import json, sys; sys.exit(not json.load(sys.stdin)["signing_credentials"])' \
    || originmark keys init
mkdir -p data/demo/in
python - <<'PY'
from PIL import Image
Image.new("RGB", (512, 512), (40, 90, 160)).save("data/demo/in/generated.jpg", quality=90)
PY
originmark sign data/demo/in/generated.jpg --generator "Demo Diffusion" --generator-version 1.0 --out data/demo/signed
originmark verify data/demo/signed data/demo/in -r
originmark inspect data/demo/signed/generated.jpg

#!/usr/bin/env bash
# The long fuzz run: mutated corpus files through the isolated verifier, in-process verifier
# and the HTTP API of a real server (tests/fuzz). The default `pytest` runs a short,
# derandomized version of the same tests.
#
# Usage: ./scripts/fuzz.sh [EXAMPLES] [pytest args...]
#   EXAMPLES   cases per target (default 5000)
#   ORIGINMARK_TEST_FUZZ_SEED=N        replay a run (default: a random seed)
#   ORIGINMARK_TEST_FUZZ_CRASHERS=DIR  where each distinct finding's input is kept (default: a temp folder)
# Example: ./scripts/fuzz.sh 20000 -k verifier      (only the verifier targets)
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-5000}"
shift || true
[ -d .venv ] || { python3 -m venv .venv && .venv/bin/python -m pip install --quiet -e ".[test]"; }
. .venv/bin/activate
export ORIGINMARK_TEST_FUZZ_EXAMPLES="$examples"
export ORIGINMARK_TEST_FUZZ_CRASHERS="${ORIGINMARK_TEST_FUZZ_CRASHERS:-${TMPDIR:-/tmp}/originmark-fuzz-crashers}"
echo "fuzz: $examples cases per target; findings kept in $ORIGINMARK_TEST_FUZZ_CRASHERS"
exec python -m pytest tests/fuzz -p no:randomly -q -p no:cacheprovider "$@"

#!/usr/bin/env bash
# Generates the code, type-checks, and runs the tests against the live server
# named by MOCHI_GRPC_TARGET. From the repository root:
#   .venv/bin/python clients/live_server.py -- bash clients/typescript/test.sh
set -euo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh

ensure_node_modules
npm run --silent gen
npm run --silent typecheck

if [[ -z ${MOCHI_GRPC_TARGET:-} ]]; then
  echo "test.sh: MOCHI_GRPC_TARGET is not set; run it through clients/live_server.py" >&2
  exit 2
fi

report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
node --import tsx --test \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$report" \
  test/*.test.ts || status=$?

tests=$(sed -n 's/^# tests \([0-9][0-9]*\)$/\1/p' "$report")
passed=$(sed -n 's/^# pass \([0-9][0-9]*\)$/\1/p' "$report")
if [[ $status -eq 0 && ${tests:-0} -eq 0 ]]; then
  echo "test.sh: no test ran" >&2
  exit 1
fi
if [[ $status -eq 0 && ${passed:-0} -ne ${tests:-0} ]]; then
  echo "test.sh: $passed of $tests tests passed" >&2
  exit 1
fi
exit "$status"

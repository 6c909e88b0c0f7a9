#!/usr/bin/env bash
# Installs the client into the venv (when its pyproject.toml changed), generates
# the code (when a proto changed) and runs the tests against the server at
# $MOCHI_GRPC_TARGET. From the repository root:
#
#   .venv/bin/python clients/live_server.py -- clients/python/test.sh
#
# Extra arguments go to pytest. VENV defaults to <repo>/.venv.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python

if [[ -z ${MOCHI_GRPC_TARGET:-} ]]; then
    echo "test.sh: MOCHI_GRPC_TARGET is not set; run it under clients/live_server.py" >&2
    exit 2
fi

VENV=$VENV "$HERE/install.sh"

"$HERE/gen.sh" --if-needed

status=0
"$PY" -m pytest "$HERE/tests" -q "$@" || status=$?
if [[ $status -eq 5 ]]; then
    echo "test.sh: no tests ran" >&2
fi
exit "$status"

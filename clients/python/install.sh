#!/usr/bin/env bash
# Installs the client (editable, with its dev tools) into the venv, when its
# pyproject.toml changed since the last install. VENV defaults to <repo>/.venv.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
STAMP=$VENV/.mochi-client-installed

wanted=$(sha256sum "$HERE/pyproject.toml" | cut -d' ' -f1)
if [[ ! -f $STAMP || $(cat "$STAMP") != "$wanted" ]]; then
    PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$HERE[dev]"
    echo "$wanted" >"$STAMP"
fi

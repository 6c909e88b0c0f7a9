#!/usr/bin/env bash
# Generates mochi_client/_gen from the service's protos (proto/mochi/v1) and
# google/rpc/{status,error_details}.proto with betterproto2: messages, the
# async grpclib stubs (FooServiceStub) and the sync grpcio stubs
# (FooServiceSyncStub).
#
#   ./gen.sh               regenerate
#   ./gen.sh --if-needed   regenerate only when an input changed
#
# VENV (default: <repo>/.venv) must hold betterproto2-compiler, grpcio-tools,
# ruff and googleapis-common-protos (`pip install -e 'clients/python[dev]'`).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
GEN=$HERE/mochi_client/_gen
STAMP=$GEN/.inputs.sha256

# The compiler formats its output with `ruff`, found on PATH.
export PATH="$VENV/bin:$PATH"

# google/rpc/*.proto ship with googleapis-common-protos.
RPC_PROTOS=$("$PY" -c 'import pathlib, google.rpc.status_pb2 as m; print(pathlib.Path(m.__file__).parent.parent.parent)')
PROTOS=("$ROOT"/proto/mochi/v1/*.proto)

inputs_hash() {
    {
        "$PY" -c 'import importlib.metadata as m; print(m.version("betterproto2-compiler"), m.version("grpcio-tools"))'
        cat "$HERE/gen.sh" "${PROTOS[@]}" "$RPC_PROTOS/google/rpc/status.proto" \
            "$RPC_PROTOS/google/rpc/error_details.proto"
    } | sha256sum | cut -d' ' -f1
}

hash=$(inputs_hash)
if [[ ${1:-} == --if-needed && -f $STAMP && $(cat "$STAMP") == "$hash" ]]; then
    exit 0
fi

out=$(mktemp -d "$HERE/mochi_client/._gen.XXXXXX")
trap 'rm -rf "$out"' EXIT

"$PY" -m grpc_tools.protoc \
    -I"$ROOT/proto" -I"$RPC_PROTOS" \
    --plugin=protoc-gen-python_betterproto2="$VENV/bin/protoc-gen-python_betterproto2" \
    --python_betterproto2_out="$out" \
    --python_betterproto2_opt=client_generation=async_sync \
    "${PROTOS[@]}" google/rpc/status.proto google/rpc/error_details.proto

touch "$out/py.typed"
echo "$hash" >"$out/.inputs.sha256"
rm -rf "$GEN"
mv "$out" "$GEN"
trap - EXIT
echo "generated $GEN"

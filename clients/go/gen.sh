#!/usr/bin/env bash
# Generates the Go code of mochi.v1 into mochiv1/ from ../../proto.
#
# Installs the pinned protoc-gen-go and protoc-gen-go-grpc into .bin/ when
# they are missing (or of another version), then runs protoc from the
# repository's Python environment (grpcio-tools). PYTHON overrides the
# interpreter.
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${PYTHON:-$root/.venv/bin/python}
module=$(cd "$here" && go list -m)
gopkg=$module/mochiv1
bin=$here/.bin

# install <binary> <module@version> <expected --version output>
install() {
	if [[ "$("$bin/$1" --version 2>/dev/null)" != "$3" ]]; then
		echo "gen.sh: installing $2" >&2
		GOBIN=$bin go install "$2"
	fi
}
install protoc-gen-go "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION" \
	"protoc-gen-go $PROTOC_GEN_GO_VERSION"
install protoc-gen-go-grpc "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION" \
	"protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION#v}"

include=$("$python" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')

cd "$root/proto"
protos=(mochi/v1/*.proto)
mappings=()
for proto in "${protos[@]}"; do
	mappings+=("--go_opt=M$proto=$gopkg" "--go-grpc_opt=M$proto=$gopkg")
done

# Generate next to the old code, then swap, so a failure leaves it intact.
out=$(mktemp -d "$here/.gen.XXXXXX")
trap 'rm -rf "$out"' EXIT
"$python" -m grpc_tools.protoc -I. -I"$include" \
	--plugin=protoc-gen-go="$bin/protoc-gen-go" \
	--plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
	--go_out="$out" --go_opt=module="$module" \
	--go-grpc_out="$out" --go-grpc_opt=module="$module" \
	"${mappings[@]}" "${protos[@]}"
touch "$out/mochiv1/.generated"
rm -rf "$here/mochiv1"
mv "$out/mochiv1" "$here/mochiv1"
echo "gen.sh: generated $(ls "$here/mochiv1"/*.go | wc -l) files into mochiv1/ (package $gopkg)" >&2

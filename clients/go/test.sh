#!/usr/bin/env bash
# Checks the Go client against the live server named by MOCHI_GRPC_TARGET:
# generates the code when the protos changed, vets, runs the tests and the
# example. From the repository root:
#
#   .venv/bin/python clients/live_server.py -- bash clients/go/test.sh
#   .venv/bin/python clients/live_server.py --secure -- bash clients/go/test.sh
#
# (--secure: API keys required and mutual TLS; the clients take MOCHI_API_KEY
# and MOCHI_GRPC_TLS_* from the environment.)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"
command -v go >/dev/null || PATH=/usr/local/go/bin:$PATH

if [[ -z "${MOCHI_GRPC_TARGET:-}" ]]; then
	echo "test.sh: MOCHI_GRPC_TARGET is not set; run me under clients/live_server.py" >&2
	exit 1
fi

stamp=mochiv1/.generated
if [[ ! -f $stamp ]] || [[ -n "$(find ../../proto gen.sh -newer "$stamp" -print -quit)" ]]; then
	./gen.sh
fi

unformatted=$(gofmt -l mochi examples)
if [[ -n $unformatted ]]; then
	echo "test.sh: not gofmt-ed: $unformatted" >&2
	exit 1
fi
go vet ./...
go test -count=1 ./...

want="You said: Hello there"
got=$(go run ./examples/chat Hello there)
if [[ $got != "$want" ]]; then
	echo "test.sh: go run ./examples/chat printed \"$got\", want \"$want\"" >&2
	exit 1
fi
echo "test.sh: go run ./examples/chat printed \"$got\""

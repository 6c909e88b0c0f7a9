#!/usr/bin/env bash
# Starts the gRPC server and the HTTP bridge side by side. Ctrl-C or SIGTERM
# stops both (each finishes or cuts off its running streams first); if either
# exits, the other is stopped too.
set -u
bin="${1:-.venv/bin}"

"$bin/mochi-grpc" &
server=$!
"$bin/mochi-bridge" &
bridge=$!

stop() { kill -TERM "$server" "$bridge" 2>/dev/null; }
trap stop INT TERM

wait -n "$server" "$bridge"
status=$?
stop
wait
exit "$status"

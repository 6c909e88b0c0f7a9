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

asked_to_stop=""
stop() { kill -TERM "$server" "$bridge" 2>/dev/null; }
trap 'asked_to_stop=1; stop' INT TERM

wait -n "$server" "$bridge"
status=$?
stop
wait
[ -n "$asked_to_stop" ] && exit 0
exit "$status"

#!/usr/bin/env bash
# Runs graph-proxy on this machine against its built-in simulator of
# Entra ID, the managed-identity endpoint, Key Vault and Microsoft Graph,
# with the example configuration, and prints a curl line that works.
# Usage: scripts/run-local.sh [path/to/graph-proxy]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-bin/graph-proxy}
state=.run
rm -rf "$state"
mkdir -p "$state"

"$bin" sim --state-dir "$state" >"$state/sim.log" 2>&1 &
sim_pid=$!
proxy_pid=
cleanup() {
	[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null || true
	kill "$sim_pid" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

for _ in $(seq 1 100); do
	[ -f "$state/sim.env" ] && break
	kill -0 "$sim_pid" 2>/dev/null || { cat "$state/sim.log"; exit 1; }
	sleep 0.1
done
[ -f "$state/sim.env" ] || { echo "the simulator did not start"; cat "$state/sim.log"; exit 1; }

set -a
# shellcheck disable=SC1091
. "$state/sim.env"
set +a

"$bin" serve --config examples/graph-proxy.yaml &
proxy_pid=$!

listen=127.0.0.1:8080
for _ in $(seq 1 100); do
	curl -fsS "http://$listen/readyz" >/dev/null 2>&1 && break
	kill -0 "$proxy_pid" 2>/dev/null || exit 1
	sleep 0.1
done

token=$("$bin" sim token --state-dir "$state")
day=$(date -u -d tomorrow +%F 2>/dev/null || date -u -v+1d +%F)
user=adele.vance0@contoso.example
cat <<MSG

graph-proxy is serving on http://$listen in front of the simulator.
Audit records go to standard output, operational logs to standard error.
Free/busy for $user tomorrow, through the proxy (vendor token from the simulated Entra ID):

curl -sS -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' \\
  -d '{"schedules":["$user"],"startTime":{"dateTime":"${day}T08:00:00","timeZone":"UTC"},"endTime":{"dateTime":"${day}T12:00:00","timeZone":"UTC"},"availabilityViewInterval":60}' \\
  http://$listen/v1.0/users/$user/calendar/getSchedule

Press Ctrl-C to stop.
MSG
wait "$proxy_pid"

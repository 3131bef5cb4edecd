#!/usr/bin/env bash
# Runs graph-proxy on this machine against its built-in simulator of
# Entra ID, the managed-identity endpoint, Key Vault and Microsoft Graph,
# with the example configuration, and prints a curl line that works.
# Usage: scripts/run-local.sh [path/to/graph-proxy]
#
# Everything it writes is under .run/ (emptied at start, kept at exit):
#   sim.env      the environment that points graph-proxy at the simulator
#                (KEY=VALUE lines: `set -a; . .run/sim.env; set +a`)
#   ca.pem       the simulator's CA
#   sim.log      the simulator's log
#   proxy.log    graph-proxy's operational log (standard error)
#   audit.jsonl  the audit records (file sink); they also go to standard
#                output. `graph-proxy audit verify .run/audit.jsonl` once
#                stopped, or with --open while running.
#   audit-checkpoint.pem
#                the public key of the simulated vault's key that signs
#                the chain's checkpoints: audit verify --key it.
# It exits non-zero, stopping what it started, if the simulator or the
# proxy is not ready within 30 seconds; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-bin/graph-proxy}
state=.run
listen=127.0.0.1:8080 # listen in examples/graph-proxy.yaml
wait_s=30

command -v curl >/dev/null || { echo "run-local: needs curl" >&2; exit 1; }
# curl exits 7 when nothing listens: anything else answering here would
# be taken for the proxy.
rc=0
curl -sS -o /dev/null --max-time 2 "http://$listen/" 2>/dev/null || rc=$?
if [ "$rc" -ne 7 ]; then
	echo "run-local: something already listens on $listen; stop it first" >&2
	exit 1
fi

rm -rf "$state"
mkdir -p "$state"

sim_pid=
proxy_pid=
cleanup() {
	# SIGTERM: the proxy drains, writes the audit chain's closing record
	# and exits; wait for that, so .run/audit.jsonl is complete.
	[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null || true
	[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# fail prints why, with the last lines of a log, and exits; the EXIT trap
# stops what was started.
fail() {
	echo "run-local: $1" >&2
	if [ -s "$2" ]; then
		# Without the "not ready" warnings our own /readyz polls cause.
		echo "--- last lines of $2:" >&2
		grep -v '"msg":"not ready"' "$2" | tail -n 20 >&2 || true
	fi
	exit 1
}

"$bin" sim --state-dir "$state" >"$state/sim.log" 2>&1 &
sim_pid=$!
deadline=$((SECONDS + wait_s))
while [ "$SECONDS" -lt "$deadline" ]; do
	[ -f "$state/sim.env" ] && break
	kill -0 "$sim_pid" 2>/dev/null || fail "the simulator exited" "$state/sim.log"
	sleep 0.1
done
[ -f "$state/sim.env" ] || fail "the simulator did not start within ${wait_s}s" "$state/sim.log"

set -a
# shellcheck disable=SC1091
. "$state/sim.env"
set +a

# Audit records go to standard output, as configured, and to a file the
# chain can be verified from.
GRAPH_PROXY_AUDIT_SINKS=stdout,file GRAPH_PROXY_AUDIT_FILE_PATH="$state/audit.jsonl" \
	"$bin" serve --config examples/graph-proxy.yaml 2>"$state/proxy.log" &
proxy_pid=$!

ready=
deadline=$((SECONDS + wait_s))
while [ "$SECONDS" -lt "$deadline" ]; do
	kill -0 "$proxy_pid" 2>/dev/null || fail "graph-proxy exited" "$state/proxy.log"
	if curl -fsS --max-time 2 "http://$listen/readyz" >/dev/null 2>&1; then
		ready=1
		break
	fi
	sleep 0.2
done
if [ -z "$ready" ]; then
	curl -sS --max-time 2 "http://$listen/readyz" >&2 2>/dev/null || true
	echo >&2
	fail "graph-proxy was not ready within ${wait_s}s (/readyz above names the failing checks)" "$state/proxy.log"
fi

# The token is fetched when the line runs, so the line keeps working
# after the hour a token lasts.
"$bin" sim token --state-dir "$state" >/dev/null || fail "no vendor token from the simulator" "$state/sim.log"
day=$(date -u -d tomorrow +%F 2>/dev/null || date -u -v+1d +%F)
user=adele.vance0@contoso.example
cat <<MSG

graph-proxy is serving on http://$listen in front of the simulator.
Audit records go to standard output and $state/audit.jsonl; operational logs to $state/proxy.log.
Free/busy for $user tomorrow, through the proxy, with a vendor token from
the simulated Entra ID (valid for an hour; the line gets a new one each time).
From the repository root, in another shell:

curl -sS -H "Authorization: Bearer \$($bin sim token --state-dir $state)" -H 'Content-Type: application/json' \\
  -d '{"schedules":["$user"],"startTime":{"dateTime":"${day}T08:00:00","timeZone":"UTC"},"endTime":{"dateTime":"${day}T12:00:00","timeZone":"UTC"},"availabilityViewInterval":60}' \\
  http://$listen/v1.0/users/$user/calendar/getSchedule

Press Ctrl-C to stop; then: $bin audit verify $state/audit.jsonl
MSG
wait "$proxy_pid"

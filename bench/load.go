package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The load: wrk and its script, the bodies it sends and the policy that allows them.

type wrkResult struct {
	requests int64
	duration time.Duration
	p50, p99 float64 // microseconds
}

// wrk runs wrk pinned to the load core. rate 0 saturates; otherwise each
// connection waits between requests so that together they send about rate
// requests per second.
func (h *harness) wrk(target string, conns int, d time.Duration, rate int) (wrkResult, error) {
	delay := 0
	if rate > 0 {
		delay = conns * 1000 / rate
	}
	return h.runWrk(target, conns, d, delay, false)
}

// wrkJittered runs wrk with each connection waiting, before each request,
// a time drawn at random from nothing to twice think: on average think,
// and the connections do not move in step.
func (h *harness) wrkJittered(target string, conns int, d, think time.Duration) (wrkResult, error) {
	return h.runWrk(target, conns, d, int(think.Milliseconds()), true)
}

func (h *harness) runWrk(target string, conns int, d time.Duration, delay int, jitter bool) (wrkResult, error) {
	script := filepath.Join(h.dir, "load.lua")
	if err := os.WriteFile(script, []byte(loadScript), 0o644); err != nil {
		return wrkResult{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "taskset", "-c", h.o.loadCPU, "wrk", "-t1", "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "--timeout", "10s", "-s", script, target)
	cmd.Env = append(os.Environ(), "BENCH_TOKEN="+h.token, "BENCH_DELAY_MS="+strconv.Itoa(delay), "BENCH_JITTER="+strconv.FormatBool(jitter),
		"BENCH_SCHEDULE="+scheduleBody, "BENCH_EVENT="+eventBody, "BENCH_READS="+strconv.FormatBool(h.o.reads),
		// At least five mailboxes per connection: Graph, and graph-proxy
		// after it, allow an app four calls at a time to one mailbox.
		"BENCH_MAILBOXES="+strconv.Itoa(max(1000, 5*conns)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	return parseWrk(string(out))
}

// parseWrk reads the line the load script's done() prints.
func parseWrk(out string) (wrkResult, error) {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(line, "BENCHWRK ")
		if !ok {
			continue
		}
		var r wrkResult
		var durUS, bad, sockErr int64
		if _, err := fmt.Sscanf(rest, "%d %d %d %d %f %f", &r.requests, &durUS, &bad, &sockErr, &r.p50, &r.p99); err != nil {
			return r, fmt.Errorf("wrk summary %q: %w", rest, err)
		}
		r.duration = time.Duration(durUS) * time.Microsecond
		if bad > 0 || sockErr > 0 || r.requests == 0 {
			err := fmt.Errorf("%d non-2xx answers and %d socket errors in %d requests", bad, sockErr, r.requests)
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "h2load: ") {
					err = fmt.Errorf("%w (the first: %s)", err, strings.TrimPrefix(l, "h2load: "))
				}
			}
			return r, err
		}
		return r, nil
	}
	return wrkResult{}, errors.New("no wrk summary in: " + out)
}

// loadScript alternates getSchedule (about 1 KB back) and event creation
// (2 KB each way) over 1,000 mailboxes (more with thousands of connections),
// as the vendor's platform does, or with -reads lists their events
// (readQuery), each call with the headers the Graph SDKs' telemetry handler
// adds (sdkHeaders), and prints an exact summary.
const loadScript = `
local token = os.getenv("BENCH_TOKEN")
local delayMs = tonumber(os.getenv("BENCH_DELAY_MS"))
local schedule = os.getenv("BENCH_SCHEDULE")
local event = os.getenv("BENCH_EVENT")
local mailboxes = tonumber(os.getenv("BENCH_MAILBOXES"))
local reads = os.getenv("BENCH_READS") == "true"
local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json", ["SdkVersion"] = "` + sdkVersion + `" }
if reads then headers["Content-Type"] = nil end -- a read has no body
-- Each of wrk's threads runs the script in a state of its own: seeded
-- apart, by the time and the address of a table of its own.
math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 1000003)
local function hex(n, digits) return string.format("%0" .. digits .. "x", math.random(0, n)) end
local i = 0
request = function()
  i = i + 1
  -- A GUID of version 4 per call, as the Graph SDKs' telemetry handler sets.
  headers["client-request-id"] = hex(65535, 4) .. hex(65535, 4) .. "-" .. hex(65535, 4) .. "-4" .. hex(4095, 3) ..
    "-" .. string.format("%04x", 32768 + math.random(0, 16383)) .. "-" .. hex(65535, 4) .. hex(65535, 4) .. hex(65535, 4)
  local user = "user" .. (i % mailboxes) .. "@contoso.example"
  if reads then
    return wrk.format("GET", "/v1.0/users/" .. user .. "` + readQuery + `", headers)
  end
  if i % 2 == 0 then
    return wrk.format("POST", "/v1.0/users/" .. user .. "/calendar/getSchedule", headers, (schedule:gsub("{user}", user)))
  end
  -- Each event invites a client of its own: no one mailbox is in more
  -- calls at once than Graph allows (four).
  local client = "client" .. (i % mailboxes) .. "@fabrikam.example"
  return wrk.format("POST", "/v1.0/users/" .. user .. "/events", headers, (event:gsub("client@fabrikam%.example", client)))
end
if delayMs > 0 and os.getenv("BENCH_JITTER") == "true" then
  delay = function() return math.random(0, 2 * delayMs) end
elseif delayMs > 0 then
  delay = function() return delayMs end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCHWRK %d %d %d %d %.1f %.1f\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
`

// scheduleBody asks for the free/busy of the path's mailbox ({user}).
const scheduleBody = `{"schedules":["{user}"],"startTime":{"dateTime":"2026-12-01T08:00:00","timeZone":"UTC"},"endTime":{"dateTime":"2026-12-01T17:00:00","timeZone":"UTC"},"availabilityViewInterval":30}`

// readQuery is what a read of the load (-reads) asks of a mailbox: its
// next events, as a vendor's sync lists them.
const readQuery = "/events?$top=5"

// eventBody is an appointment of about 2 KB.
var eventBody = `{"subject":"Onboarding consultation","body":{"contentType":"HTML","content":"` + strings.Repeat("Agenda: introductions, goals, next steps. ", 38) +
	`"},"start":{"dateTime":"2026-12-01T10:00:00","timeZone":"UTC"},"end":{"dateTime":"2026-12-01T10:30:00","timeZone":"UTC"},"location":{"displayName":"Online"},"attendees":[{"emailAddress":{"address":"client@fabrikam.example","name":"Client"},"type":"required"}],"isOnlineMeeting":false,"transactionId":"7E163156-7762-4BEB-A1C6-729EA81755A7"}`

// benchPolicy allows the load's three calls among n rules over distinct
// paths, for a caller with limits far above the load. getSchedule may name
// only the tenant's own mailboxes (peopleDomains), a check on the body that
// both graph-proxy and the OPA peer make.
func benchPolicy(n int) string {
	var sb strings.Builder
	sb.WriteString(`version: 1
mode: enforce
callers:
  - name: engage
    match: { tenantID: "d2b6628f-0000-4000-8000-000000000002", appID: "e0000000-0000-4000-8000-0000000000e1" }
    permissions: [Calendars.ReadBasic.All, Calendars.ReadWrite, User.ReadBasic.All]
    rateLimit: { rps: 100000, burst: 100000, concurrent: 10000 }
rules:
  - { id: free-busy, method: POST, path: "/users/{user}/calendar/getSchedule", permission: Calendars.ReadBasic.All, peopleDomains: [contoso.example] }
  - { id: events-create, method: POST, path: "/users/{user}/events", permission: Calendars.ReadWrite }
  - { id: events-read, method: GET, path: "/users/{user}/events", query: [$top], permission: Calendars.ReadWrite }
`)
	for i := 3; i < n; i++ {
		fmt.Fprintf(&sb, "  - { id: r%d, method: GET, path: \"/users/{user}/extension%d/items/{id}\", query: [$top], permission: User.ReadBasic.All }\n", i, i)
	}
	return sb.String()
}

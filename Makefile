# graph-proxy — the two commands that matter are `make run` and `make test`.

GO        ?= go
BIN       := bin/graph-proxy
# The release build: a static, reproducible binary stamped with its version
# (graph-proxy version, /status, the audit log's genesis records): VERSION
# is `git describe` of the checkout, or set it: make build VERSION=v1.4.0.
# The Dockerfile uses the same flags (a test checks that they agree).
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
BUILD_ENV   := CGO_ENABLED=0
BUILD_FLAGS := -trimpath -ldflags "-s -w -X main.buildVersion=$(VERSION)"
# Fuzz targets run briefly in every test run: a fixed number of inputs each
# (about ten seconds here), not a duration. With a duration, Go 1.26's fuzz
# coordinator can report its own deadline as a failure when the time is up
# (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
# Longer locally: `make fuzz FUZZTIME=5m` (a duration, so a bare
# "context deadline exceeded" with no input written is that race, not a find).
FUZZTIME  ?=
FUZZ_TARGETS := ./auditlog:FuzzAppendRecord:60000 ./proxy:FuzzLinkRewriter:40000 ./proxy/response:FuzzFilter:80000 \
	./policy:FuzzCanonicalize:100000 ./policy:FuzzParseBatch:200000 \
	./policy:FuzzParseJSON:200000 ./policy:FuzzParseBody:200000 ./policy:FuzzSameKey:200000 \
	./policy:FuzzParseAddress:100000 ./policy:FuzzDomainToASCII:100000 ./policy:FuzzMIMERecipients:30000 ./auditlog:FuzzVerify:50000 \
	./policy:FuzzWhoACallTouches:150000 ./policy:FuzzKindOf:100000 ./policy:FuzzDecideMediaType:150000 ./auditlog:FuzzReadExport:30000 \
	./policy:FuzzDelegated:60000 ./proxy/upstream:FuzzExchangeError:20000 ./proxy:FuzzHeaderURLs:60000 \
	./internal/vaultkey:FuzzParsePublicKeys:30000 ./auditlog/reconcile:FuzzReadActivity:20000 ./internal/seal:FuzzOpen:30000 \
	./proxy/notify:FuzzOpen:80000 ./proxy/notify:FuzzParseDelivery:60000 \
	./proxy/filelink:FuzzOpen:250000 ./proxy/filelink:FuzzParseContentRange:400000 ./proxy:FuzzClaimsChallenge:30000 \
	./proxy:FuzzFileHostJSON:40000 ./policy:FuzzLookupRecipients:100000 ./policy:FuzzWalkRaw:150000 ./policy:FuzzRouteOf:100000 ./auditlog:FuzzSeal:40000 \
	./internal/tokenshape:FuzzWithhold:50000 ./policy:FuzzTestedPaths:50000 ./policy:FuzzPathReadOtherwise:50000

.PHONY: all build run test vet fmt-check unit fuzz syntax marketplace bench bench-instructions soak clean

all: build

build:
	$(BUILD_ENV) $(GO) build $(BUILD_FLAGS) -o $(BIN) ./cmd/graph-proxy

# Starts the simulator and the proxy with the example configuration, and
# prints a curl line that works. Ctrl-C stops both.
run: build
	./scripts/run-local.sh $(BIN)

test: fmt-check vet unit fuzz syntax

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# TestCallStack measures the release build's stacks, which the race
# detector's instrumentation deepens: it runs again without it.
unit:
	$(GO) test -race -count=1 -timeout 15m ./...
	$(GO) test -count=1 -run '^TestCallStack$$' ./proxy

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; n=$${rest##*:}; \
		budget=$(if $(FUZZTIME),$(FUZZTIME),$${n}x); \
		echo "fuzz $$name ($$budget)"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$$budget $$pkg || exit 1; \
	done

# Bicep and PowerShell cannot run here; their syntax is checked with
# tree-sitter grammars (prebuilt wasm, pinned in deploy/syntax's lockfile).
# Every KQL query shipped (deploy/kql, the workbook, docs, the queries
# mainTemplate.json carries) is parsed and analyzed by Microsoft's own Kusto
# parser against the audit table's columns; --self-test first makes sure
# it still reports the broken queries of deploy/syntax/testdata/broken.md.
syntax:
	npm ci --prefix deploy/syntax --ignore-scripts --no-audit --no-fund --loglevel=error
	node deploy/syntax/check.mjs $$(find deploy scripts -name '*.bicep' -o -name '*.ps1' | grep -v node_modules | sort)
	node deploy/syntax/kql.mjs --self-test
	node deploy/syntax/kql.mjs deploy/kql/*.kql deploy/workbook/*.json docs/*.md marketplace/mainTemplate.json

# The Azure Marketplace package (a solution template): app.zip with
# mainTemplate.json and createUiDefinition.json at its root.
marketplace:
	$(GO) run ./marketplace/pack -o app.zip -dir marketplace

# The concurrent load test of internal/hardening for longer than CI runs it
# (under the race detector): make soak SOAK=10m.
SOAK ?= 2m
soak:
	$(GO) test -race -count=1 -timeout 0 -run '^TestConcurrentLoad$$' ./internal/hardening -soak $(SOAK) -v

# Micro-benchmarks of each stage, then the side-by-side load run (bench/):
# graph-proxy, a bare Go reverse proxy, nginx and an OPA peer (the bare
# proxy deciding the same policy in Rego) under wrk, pinned to separate
# cores, written to bench/RESULTS.md. wrk and nginx come from Debian.
# By default 30 interleaved rounds of 4 s (short rounds keep the bare
# proxy and graph-proxy close in time, so the machine's drift weighs on
# both alike; 30 of them narrow the interval for the median of their
# ratio: bench/RESULTS.md, "Shorter rounds, more of them"), the first 3
# also at Graph's latency
# (300 ms: 300 calls in flight, each on a connection of its own and as
# HTTP/2 streams; 2,000 streams held 2 s each; and 100 streams each
# creating an event with a 4 MB body, held 2 s), about 50 minutes on
# 2 cores. BENCH_FLAGS replaces these (e.g. -soak 10m, -rounds 3, -reads,
# -only opa,graph-proxy; `.bench/bench run -h` lists them).
BENCH_FLAGS ?= -rounds 30 -duration 4s -upstream-delay 300ms -in-flight 300,h2/300,h2/2000:2s,h2/100:2s+4MB -delay-duration 15s
bench: build
	@command -v wrk >/dev/null && command -v nginx >/dev/null || \
		{ apt-get update -q && apt-get install -y -q --no-install-recommends wrk nginx-light; }
	$(GO) test -run='^$$' -bench=. -benchmem ./policy ./proxy/... ./auditlog ./internal/handshake
	$(GO) build -o .bench/bench ./bench
	.bench/bench run -proxy $(BIN) $(BENCH_FLAGS)

# Instructions per call of the Go proxies (bench/instructions.go): each
# runs under valgrind's callgrind, which counts what a paced phase's calls
# execute in user space, a figure this machine's noise does not move (CPU
# time moves by more between rounds than a change of a few percent). For
# "does this build do more work per call": BENCH_BASELINE=path/to/older
# adds that build side by side. About 10 minutes; valgrind from Debian.
BENCH_INSTRUCTIONS_FLAGS ?= -rounds 4 -duration 15s -rate 100 -saturate 0 -delay-rounds 0
bench-instructions: build
	@command -v wrk >/dev/null && command -v valgrind >/dev/null || \
		{ apt-get update -q && apt-get install -y -q --no-install-recommends wrk valgrind; }
	$(GO) build -o .bench/bench ./bench
	.bench/bench run -instructions -proxy $(BIN) -only bare,graph-proxy$(if $(BENCH_BASELINE),$(comma)baseline -baseline $(BENCH_BASELINE)) $(BENCH_INSTRUCTIONS_FLAGS)

comma := ,

clean:
	rm -rf bin .run .bench

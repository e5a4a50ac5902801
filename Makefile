# Build, run and test the runningrat Fluent Bit output plugin.
# `make run` and `make test` are the two entry points; see README.md.

GO      ?= go
# make predefines CC as cc, so ?= would never apply; a CC from the command
# line or the environment still wins.
ifeq ($(origin CC),default)
CC      = gcc
endif
BUILD   := build
PLUGIN  := $(BUILD)/out_runningrat.so
HOST    := $(BUILD)/flbhost
CHUNK   := $(BUILD)/flbchunk
HUNT    := $(BUILD)/runningrat
SAMPLES := $(wildcard testdata/samples/*.log)
# The vendor samples are stamped from this time, one second per line, so
# that the alerts of `make run` equal testdata/golden/*.extended.jsonl.
SAMPLE_START := 2025-05-14T10:21:07Z

.PHONY: all build run test vet unit race e2e interop faultrun fuzz bench clean

all: build

build: $(PLUGIN) $(HOST) $(CHUNK) $(HUNT)

# Go's build cache makes these cheap to run every time, so they are phony
# rather than listing every source file.
.PHONY: $(PLUGIN) $(CHUNK) $(HUNT)
$(PLUGIN):
	@mkdir -p $(BUILD)
	$(GO) build -trimpath -buildmode=c-shared -o $@ ./cmd/out_runningrat

$(CHUNK):
	@mkdir -p $(BUILD)
	$(GO) build -trimpath -o $@ ./cmd/flbchunk

$(HUNT):
	@mkdir -p $(BUILD)
	$(GO) build -trimpath -o $@ ./cmd/runningrat

$(HOST): host/flbhost.c
	@mkdir -p $(BUILD)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -o $@ host/flbhost.c -ldl -lpthread

# run: the plugin on the bundled vendor samples, alerts on stdout. With a
# real fluent-bit on PATH it runs fluent-bit.conf for 15 seconds; otherwise
# flbhost replays the samples as in_tail would chunk them.
run: build
	@if command -v fluent-bit >/dev/null 2>&1; then \
		echo "== fluent-bit found: running fluent-bit.conf for 15 s" >&2; \
		timeout -s INT 15 fluent-bit -e $(abspath $(PLUGIN)) -c fluent-bit.conf; \
		status=$$?; [ $$status -eq 0 ] || [ $$status -eq 124 ]; \
	else \
		echo "== fluent-bit not on PATH: replaying testdata/samples through $(HOST)" >&2; \
		for f in $(SAMPLES); do \
			name=$$(basename $$f .log); \
			$(CHUNK) -tag fw.$$name -start $(SAMPLE_START) -step 1s -o $(BUILD)/$$name.chunks $$f || exit 1; \
		done; \
		$(HOST) -p Sink=stdout -p Spool_Dir=$(BUILD)/spool $(PLUGIN) $(patsubst testdata/samples/%.log,$(BUILD)/%.chunks,$(SAMPLES)); \
	fi

# test: what CI runs. Unit and table tests, vet, the race detector, and the
# end-to-end tests that load the real .so through flbhost.
test: vet race e2e interop

vet:
	$(GO) vet ./...

unit:
	$(GO) test ./...

# The end-to-end tests are left to the e2e target: they load a plugin built
# without -race, so the race detector adds nothing to them.
race:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2e)

e2e: build
	$(GO) test -count=1 -v -run 'TestEndToEnd' ./e2e

# interop: the forward sink against the OpenTelemetry Collector's forward
# receiver, an implementation of the protocol that this project did not
# write. It is a module of its own to keep the Collector out of go.mod.
interop:
	cd sink/forward/interop && $(GO) vet ./... && $(GO) test -count=1 ./...

# faultrun: 1M records with 1k alerts through the library, against an
# Elasticsearch, a Splunk HEC and a Fluent forward peer that fail as the
# real products do and all go down for 30 s mid-run. `make test` runs the
# same test at a small size.
faultrun: build
	FAULT_RUN_RECORDS=1000000 FAULT_RUN_ALERTS=1000 FAULT_RUN_OUTAGE=30s \
		$(GO) test -count=1 -v -timeout 30m -run 'TestEndToEndFaultRun' ./e2e

# fuzz: each target for FUZZTIME, one after another. FUZZFLAGS passes more
# flags to go test, such as '-parallel 1' to leave the other cores free.
FUZZTIME ?= 30s
FUZZFLAGS ?=
fuzz:
	$(GO) test -run XXX -fuzz '^FuzzParseLine$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./cef
	$(GO) test -run XXX -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./chunk
	$(GO) test -run XXX -fuzz '^FuzzTermMatch$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./detect
	$(GO) test -run XXX -fuzz '^FuzzFlush$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./pipeline
	$(GO) test -run XXX -fuzz '^FuzzPrefilter$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./detect
	$(GO) test -run XXX -fuzz '^FuzzRawValues$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./cef
	$(GO) test -run XXX -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./rules
	$(GO) test -run XXX -fuzz '^FuzzReadFile$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/flbconf

bench:
	@mkdir -p $(BUILD)
	$(GO) test -run XXX -bench . -benchmem -count 6 ./cef ./detect ./pipeline ./spool | tee $(BUILD)/bench.txt
	$(GO) test -run XXX -bench 'Plugin|Stock|Floor|Pathological' -benchtime 30x -count 6 ./internal/benchref | tee -a $(BUILD)/bench.txt
	$(GO) test -run XXX -bench 'TenMillion' -benchtime 1x ./internal/benchref | tee -a $(BUILD)/bench.txt
	$(GO) test -run XXX -bench 'FlushParallel' -cpu 1,2 -count 6 ./pipeline | tee $(BUILD)/bench-parallel.txt
	$(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da $(BUILD)/bench.txt
	$(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da $(BUILD)/bench-parallel.txt

clean:
	rm -rf $(BUILD)

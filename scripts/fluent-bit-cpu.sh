#!/bin/sh
# Measures the CPU seconds (user + sys) that a real Fluent Bit spends tailing
# the mixed log into null and into the plugin, as BENCHMARKS.md reports them.
# Fluent Bit is not part of this project: FLUENT_BIT names its binary.
#
#   scripts/fluent-bit-cpu.sh RUNS MODE WORKERS [SPOOL_SYNC]
#
# for example `scripts/fluent-bit-cpu.sh 8 extended 2`. Each round runs null
# and then the plugin, so that a change in the machine's load hits both.
# CPUS is passed to taskset (default: 0 for Workers 0, else 0,1). The log is
# written to build/mixed.log on the first run.
set -eu

runs=${1:?usage: $0 RUNS MODE WORKERS [SPOOL_SYNC]}
export RR_MODE=${2:?usage: $0 RUNS MODE WORKERS [SPOOL_SYNC]}
export RR_WORKERS=${3:?usage: $0 RUNS MODE WORKERS [SPOOL_SYNC]}
export RR_SPOOL_SYNC=${4:-normal}
fluent_bit=${FLUENT_BIT:-fluent-bit}
if [ "$RR_WORKERS" = 0 ]; then cpus=${CPUS:-0}; else cpus=${CPUS:-0,1}; fi

cd "$(dirname "$0")/.."
make build >/dev/null
export PERF_LOG="$PWD/build/mixed.log"
if [ ! -s "$PERF_LOG" ]; then
	go run ./internal/benchref/mixedlog -lines 600000 >"$PERF_LOG"
fi
export PERF_OUT="$PWD/build/perf"

cpu_seconds() { # config [plugin]
	rm -rf "$PERF_OUT" && mkdir -p "$PERF_OUT"
	if [ $# -eq 2 ]; then set -- -e "$2" -c "$1"; else set -- -c "$1"; fi
	taskset -c "$cpus" /usr/bin/time -f "%U %S" -o "$PERF_OUT.time" "$fluent_bit" "$@" >/dev/null 2>&1
	awk '{ printf "%.2f\n", $1 + $2 }' "$PERF_OUT.time"
}

null_runs="" plugin_runs=""
for _ in $(seq "$runs"); do
	null_runs="$null_runs $(cpu_seconds testdata/perf/null.conf)"
	plugin_runs="$plugin_runs $(cpu_seconds testdata/perf/runningrat.conf build/out_runningrat.so)"
	echo "alerts written: $(wc -l <"$PERF_OUT/alerts.json")"
done

median() { printf '%s\n' $1 | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
null_median=$(median "$null_runs")
plugin_median=$(median "$plugin_runs")
echo "null:       $null_runs (median $null_median)"
echo "runningrat: $plugin_runs (median $plugin_median)"
echo "ratio: $(awk -v p="$plugin_median" -v n="$null_median" 'BEGIN { printf "%.2f", p / n }') (mode $RR_MODE, Workers $RR_WORKERS, Spool_Sync $RR_SPOOL_SYNC, CPUs $cpus)"

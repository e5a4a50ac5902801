package plugin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgehunt/runningrat/internal/flblog"
	"github.com/edgehunt/runningrat/metrics"
	"github.com/edgehunt/runningrat/pipeline"
)

// panicTagEnv names an environment variable, read once per Init, that makes
// every flush of that instance whose tag equals its value panic outside the
// per-record guards. The end-to-end tests use it to check the recovery at
// the cgo boundary; no agent should set it.
const panicTagEnv = "RUNNINGRAT_TEST_PANIC_TAG"

// logOutput is where every instance writes its log lines: stderr, as Fluent
// Bit's own log does by default.
var logOutput io.Writer = os.Stderr

// instance is one [OUTPUT] section.
type instance struct {
	id    string
	index int
	out   *pipeline.Output
	log   *slog.Logger

	// panicTag is the value of panicTagEnv when the instance started.
	panicTag string
	// flushPanics counts the flushes that panicked and returned FLB_ERROR.
	flushPanics atomic.Int64

	stopStats         chan struct{}
	statsDone         chan struct{}
	unregisterMetrics func()
}

// ids contains the instance numbers in use. A new instance takes the lowest
// free number, so after a hot reload, which stops every instance before it
// starts the new ones, the names are the same as before, as Fluent Bit
// numbers the instances of a new configuration from 0.
var ids = struct {
	sync.Mutex
	used map[int]bool
}{used: map[int]bool{}}

func claimIndex() int {
	ids.Lock()
	defer ids.Unlock()
	for i := 0; ; i++ {
		if !ids.used[i] {
			ids.used[i] = true
			return i
		}
	}
}

func releaseIndex(i int) {
	ids.Lock()
	defer ids.Unlock()
	delete(ids.used, i)
}

// instanceName returns the name that Fluent Bit gives the instance when no
// Alias is set. The plugin cannot read Alias, which Fluent Bit keeps.
func instanceName(index int) string {
	return fmt.Sprintf("%s.%d", Name, index)
}

// newLogger returns a logger that writes Fluent Bit's log format under the
// instance's scope, [output:runningrat:runningrat.0].
func newLogger(id string, level slog.Level) *slog.Logger {
	return slog.New(flblog.New(logOutput, "output:"+Name+":"+id, level))
}

// pluginLogger returns a logger for lines that concern no one instance,
// under the scope [output:runningrat].
func pluginLogger() *slog.Logger {
	return slog.New(flblog.New(logOutput, "output:"+Name, slog.LevelInfo))
}

// startObserving starts the periodic stats line and the metrics listener
// that obs asks for.
func (inst *instance) startObserving(obs pipeline.ObserveConfig) error {
	if obs.MetricsListen != "" {
		if !obs.MetricsLoopback {
			inst.log.Warn("Metrics_Listen is not a loopback address: other hosts can read the metrics", "metrics_listen", obs.MetricsListen)
		}
		unregister, err := metrics.Register(obs.MetricsListen, inst.id, inst.counters, pluginLogger())
		if err != nil {
			return err
		}
		inst.unregisterMetrics = unregister
	}

	if obs.StatsInterval > 0 {
		inst.stopStats = make(chan struct{})
		inst.statsDone = make(chan struct{})
		go inst.logStatsEvery(obs.StatsInterval)
	}
	return nil
}

// stopObserving stops what startObserving started. It is safe to call
// when nothing was started.
func (inst *instance) stopObserving() {
	if inst.stopStats != nil {
		close(inst.stopStats)
		<-inst.statsDone
		inst.stopStats = nil
	}
	if inst.unregisterMetrics != nil {
		inst.unregisterMetrics()
		inst.unregisterMetrics = nil
	}
}

func (inst *instance) logStatsEvery(interval time.Duration) {
	defer close(inst.statsDone)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-inst.stopStats:
			return
		case <-ticker.C:
			inst.logStats()
		}
	}
}

// logStats writes the counters in one line.
func (inst *instance) logStats() {
	c := inst.counters()
	inst.log.Info("stats", "records", c.Records, "skipped", pipeline.FormatCounts(c.Skipped),
		"exact_alerts", c.ExactAlerts, "extended_alerts", c.ExtendedAlerts,
		"delivered", c.Delivered, "failed_delivery_batches", c.FailedBatches,
		"dead_lettered", c.DeadLettered, "spool_alerts", c.SpoolDepth,
		"spool_full_retries", c.SpoolFull, "flush_panics", c.FlushPanics)
}

// counters returns the instance's counters for the stats line and the
// metrics.
func (inst *instance) counters() metrics.Counters {
	s := inst.out.Stats()
	return metrics.Counters{
		Records:        s.Records,
		Skipped:        s.Skipped,
		ExactAlerts:    s.ExactAlerts,
		ExtendedAlerts: s.ExtendedAlerts,
		Delivered:      s.Delivery.Delivered,
		FailedBatches:  s.Delivery.FailedBatches,
		DeadLettered:   s.Delivery.DeadLettered,
		SpoolDepth:     s.Delivery.Queued,
		SpoolFull:      s.SpoolFull,
		FlushPanics:    inst.flushPanics.Load(),
	}
}

// close stops the instance: the stats line and the metrics first, so that
// no scrape reads a closed spool, then the pipeline.
func (inst *instance) close() {
	inst.stopObserving()

	ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
	defer cancel()
	if err := inst.out.Close(ctx); err != nil {
		inst.log.Error("closing the sink failed", "error", err)
	}
	if n := inst.flushPanics.Load(); n > 0 {
		inst.log.Warn("flushes panicked and their chunks were dropped", "flush_panics", n)
	}
}

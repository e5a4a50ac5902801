// Package delivery moves alerts from the spool to the sink, apart from
// Fluent Bit's flushes. It sends the oldest alerts in batches and deletes
// what the sink accepted. It writes what the sink rejected for good to a
// dead-letter file, and retries the rest with exponential backoff and
// jitter without limit, so that a sink outage delays alerts but does not
// lose them.
package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/sink"
	"github.com/edgehunt/runningrat/spool"
)

// Config tunes delivery.
type Config struct {
	// BatchSize is the most alerts read from the spool for one Send.
	BatchSize int
	// RetryBase and RetryMax bound the wait after a failed attempt. The
	// ceiling doubles from RetryBase up to RetryMax, and the wait is a
	// random time between half the ceiling and the ceiling, so that many
	// agents do not retry in step.
	RetryBase time.Duration
	RetryMax  time.Duration
	// SinkName names the sink in logs and dead-letter entries.
	SinkName string
	// Linger is how long a batch smaller than BatchSize waits for more
	// alerts before it is sent. Each delivery costs a request or a file
	// sync and a spool transaction, so a burst of flushes is better sent
	// as one batch. Zero sends at once. Once shutdown starts,
	// batches are sent without waiting.
	Linger time.Duration
}

// Defaults.
const (
	DefaultBatchSize = 500
	DefaultRetryBase = 500 * time.Millisecond
	DefaultRetryMax  = 30 * time.Second
	DefaultLinger    = 200 * time.Millisecond
)

// Deliverer runs the delivery loop of one output instance.
type Deliverer struct {
	cfg   Config
	spool *spool.Spool
	sink  sink.Sink
	dead  *DeadLetter
	log   *slog.Logger

	wake    chan struct{}
	drain   chan struct{} // closed when shutdown starts
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	stopper sync.Once

	// lastFailureLog is when a failed attempt was last logged as a warning;
	// only the loop's goroutine uses it.
	lastFailureLog time.Time

	delivered     atomic.Int64
	deadLettered  atomic.Int64
	failedBatches atomic.Int64
}

// New returns a Deliverer; Start runs it.
func New(cfg Config, sp *spool.Spool, s sink.Sink, dead *DeadLetter, log *slog.Logger) *Deliverer {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = DefaultRetryBase
	}
	if cfg.RetryMax < cfg.RetryBase {
		cfg.RetryMax = max(cfg.RetryBase, DefaultRetryMax)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Deliverer{
		cfg: cfg, spool: sp, sink: s, dead: dead, log: log,
		wake:  make(chan struct{}, 1),
		drain: make(chan struct{}),
		ctx:   ctx, cancel: cancel,
		done: make(chan struct{}),
	}
}

// Start runs the loop on its own goroutine. Alerts already in the spool,
// from before a restart, are sent first.
func (d *Deliverer) Start() {
	go d.run()
}

// Notify wakes the loop because new alerts are in the spool. It never blocks.
func (d *Deliverer) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Stop lets the loop deliver what the spool holds for at most timeout, then
// cancels the attempt in flight and waits for the loop to end. Alerts not
// delivered stay in the spool for the next start. It returns how many.
func (d *Deliverer) Stop(timeout time.Duration) int {
	d.stopper.Do(func() {
		close(d.drain)
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		select {
		case <-d.done:
		case <-timer.C:
			d.cancel()
			<-d.done
		}
		d.cancel()
	})
	return d.spool.Len()
}

// Stats are the loop's counters since start.
type Stats struct {
	Delivered     int64
	DeadLettered  int64
	FailedBatches int64
	Queued        int
}

// Stats returns the counters.
func (d *Deliverer) Stats() Stats {
	return Stats{
		Delivered:     d.delivered.Load(),
		DeadLettered:  d.deadLettered.Load(),
		FailedBatches: d.failedBatches.Load(),
		Queued:        d.spool.Len(),
	}
}

func (d *Deliverer) run() {
	defer close(d.done)
	failures := 0
	lingered := false

	for d.ctx.Err() == nil {
		items, err := d.spool.Peek(d.cfg.BatchSize)
		if err != nil {
			d.log.Error("reading the spool failed", "spool", d.spool.Path(), "error", err)
			failures++
			d.wait(failures)
			continue
		}
		if len(items) == 0 {
			if d.draining() {
				return
			}
			select {
			case <-d.wake:
			case <-d.drain:
			case <-d.ctx.Done():
			}
			continue
		}
		if len(items) < d.cfg.BatchSize && !lingered && failures == 0 && d.cfg.Linger > 0 && !d.draining() {
			d.linger()
			lingered = true
			continue
		}
		lingered = false

		if d.deliver(items) {
			if failures > 0 {
				d.log.Info("alert delivery works again", "sink", d.cfg.SinkName, "failed_attempts", failures)
			}
			failures = 0
			d.lastFailureLog = time.Time{}
			continue
		}
		failures++
		d.failedBatches.Add(1)
		d.wait(failures)
	}
}

// deliver sends one batch and settles its items. It returns false when some
// alerts must be sent again.
func (d *Deliverer) deliver(items []spool.Item) bool {
	alerts := make([]detect.Alert, 0, len(items))
	keys := make([]uint64, 0, len(items))
	var done []uint64
	var rejects []rejected
	for _, it := range items {
		a, err := detect.ParseAlert(it.Value)
		if err != nil {
			rejects = append(rejects, rejected{alert: it.Value, reason: "spool entry is not a readable alert: " + err.Error()})
			done = append(done, it.Key)
			continue
		}
		alerts = append(alerts, a)
		keys = append(keys, it.Key)
	}

	var sendErr error
	retry := false
	if len(alerts) > 0 {
		sendErr = d.sink.Send(d.ctx, alerts)
	}
	switch batch := sink.AsBatchError(sendErr); {
	case sendErr == nil:
		done = append(done, keys...)
	case batch != nil:
		failed := map[int]sink.ItemError{}
		for _, it := range batch.Items {
			failed[it.Index] = it
		}
		for i, key := range keys {
			it, ok := failed[i]
			switch {
			case !ok:
				done = append(done, key)
			case it.Permanent:
				rejects = append(rejects, rejected{alert: itemValue(items, key), reason: it.Reason})
				done = append(done, key)
			default:
				retry = true
			}
		}
		d.log.Warn("the sink did not take every alert of a batch", "sink", d.cfg.SinkName,
			"batch", len(alerts), "failed", len(batch.Items), "error", sendErr)
	default:
		retry = true
		d.logFailure(len(alerts), sendErr)
	}

	if len(rejects) > 0 {
		if err := d.dead.Write(d.cfg.SinkName, rejects); err != nil {
			// Keep the rejected alerts in the spool rather than lose them.
			d.log.Error("writing the dead-letter file failed; the rejected alerts stay in the spool",
				"path", d.dead.Path(), "alerts", len(rejects), "error", err)
			return false
		}
		d.deadLettered.Add(int64(len(rejects)))
		for _, r := range rejects {
			d.log.Error("alert rejected by the sink, written to the dead-letter file",
				"sink", d.cfg.SinkName, "path", d.dead.Path(), "reason", r.reason)
		}
	}

	if err := d.spool.Delete(done); err != nil {
		d.log.Error("removing delivered alerts from the spool failed; they will be sent again", "error", err)
		return false
	}
	d.delivered.Add(int64(len(done) - len(rejects)))
	return !retry
}

// failureLogInterval is the least time between two warnings about the same
// outage; the attempts in between are logged at debug level.
const failureLogInterval = time.Minute

// logFailure logs a failed attempt: at warning level for the first of an
// outage and then once per failureLogInterval, so that an outage of hours
// does not fill the agent's log.
func (d *Deliverer) logFailure(batch int, err error) {
	attrs := []any{"sink", d.cfg.SinkName, "batch", batch, "queued", d.spool.Len(), "error", err}
	if !d.lastFailureLog.IsZero() && time.Since(d.lastFailureLog) < failureLogInterval {
		d.log.Debug("alert delivery failed, will retry", attrs...)
		return
	}
	d.lastFailureLog = time.Now()
	d.log.Warn("alert delivery failed, will retry", attrs...)
}

func itemValue(items []spool.Item, key uint64) []byte {
	for _, it := range items {
		if it.Key == key {
			return it.Value
		}
	}
	return nil
}

func (d *Deliverer) draining() bool {
	select {
	case <-d.drain:
		return true
	default:
		return false
	}
}

// linger sleeps for cfg.Linger, or until shutdown starts.
func (d *Deliverer) linger() {
	timer := time.NewTimer(d.cfg.Linger)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-d.drain:
	case <-d.ctx.Done():
	}
}

// wait sleeps for the backoff of the given failure count, or until the
// loop is cancelled.
func (d *Deliverer) wait(failures int) {
	timer := time.NewTimer(backoff(d.cfg.RetryBase, d.cfg.RetryMax, failures))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-d.ctx.Done():
	}
}

// backoff returns a random wait in [ceiling/2, ceiling], where the ceiling
// doubles from base with each failure up to max.
func backoff(base, limit time.Duration, failures int) time.Duration {
	ceiling := base
	for i := 1; i < failures && ceiling < limit; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, limit)
	return ceiling/2 + rand.N(ceiling/2+1)
}

// String describes the configuration for logs.
func (c Config) String() string {
	return fmt.Sprintf("batch %d, retry wait %s to %s", c.BatchSize, c.RetryBase, c.RetryMax)
}

package delivery

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	jsoniter "github.com/json-iterator/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/sink"
	"github.com/edgehunt/runningrat/spool"
)

// scriptedSink returns the next scripted result from each Send, then nil,
// and records the ids of the alerts it accepted.
type scriptedSink struct {
	mu      sync.Mutex
	results []func(alerts []detect.Alert) error
	taken   []string
	calls   int
}

func (s *scriptedSink) Send(ctx context.Context, alerts []detect.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	var err error
	if len(s.results) > 0 {
		err = s.results[0](alerts)
		s.results = s.results[1:]
	}
	failed := map[int]bool{}
	if be := sink.AsBatchError(err); be != nil {
		for _, it := range be.Items {
			failed[it.Index] = true
		}
	} else if err != nil {
		return err
	}
	for i, a := range alerts {
		if !failed[i] {
			s.taken = append(s.taken, a.ID)
		}
	}
	return err
}

func (s *scriptedSink) Close(context.Context) error { return nil }

func (s *scriptedSink) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *scriptedSink) takenIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.taken...)
}

func newSpool(t *testing.T) *spool.Spool {
	t.Helper()
	sp, _, err := spool.Open(filepath.Join(t.TempDir(), "test.spool"), spool.Options{}, quietLog())
	require.NoError(t, err)
	t.Cleanup(func() { sp.Close() })
	return sp
}

func appendAlerts(t *testing.T, sp *spool.Spool, ids ...string) {
	t.Helper()
	var values [][]byte
	for _, id := range ids {
		a := detect.Alert{ID: id, Verdict: "exact"}
		b, err := a.AppendJSON(nil)
		require.NoError(t, err)
		values = append(values, b)
	}
	require.NoError(t, sp.Append(values))
}

func start(t *testing.T, sp *spool.Spool, s sink.Sink) (*Deliverer, *DeadLetter) {
	t.Helper()
	dead := NewDeadLetter(filepath.Join(t.TempDir(), "test.deadletter.jsonl"))
	d := New(Config{BatchSize: 3, RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond, SinkName: "test"},
		sp, s, dead, quietLog())
	d.Start()
	t.Cleanup(func() { d.Stop(time.Second) })
	return d, dead
}

func waitEmpty(t *testing.T, sp *spool.Spool) {
	t.Helper()
	require.Eventually(t, func() bool { return sp.Len() == 0 }, 10*time.Second, time.Millisecond)
}

func TestDeliversInOrderInBatches(t *testing.T) {
	sp := newSpool(t)
	appendAlerts(t, sp, "a1", "a2", "a3", "a4", "a5")
	s := &scriptedSink{}
	d, _ := start(t, sp, s)

	waitEmpty(t, sp)
	assert.Equal(t, []string{"a1", "a2", "a3", "a4", "a5"}, s.takenIDs())
	assert.Equal(t, 2, s.callCount(), "batches of at most 3")
	assert.Eventually(t, func() bool { return d.Stats().Delivered == 5 }, 5*time.Second, time.Millisecond)
}

func TestRetriesTransientFailures(t *testing.T) {
	sp := newSpool(t)
	appendAlerts(t, sp, "a1")
	down := func([]detect.Alert) error { return errors.New("connection refused") }
	s := &scriptedSink{results: []func([]detect.Alert) error{down, down, down}}
	d, _ := start(t, sp, s)

	waitEmpty(t, sp)
	assert.Equal(t, []string{"a1"}, s.takenIDs())
	assert.Equal(t, 4, s.callCount())
	assert.Equal(t, int64(3), d.Stats().FailedBatches)
}

func TestSettlesEachItemOfAPartialFailure(t *testing.T) {
	sp := newSpool(t)
	appendAlerts(t, sp, "ok", "bad", "busy")
	partial := func([]detect.Alert) error {
		return &sink.BatchError{Items: []sink.ItemError{
			{Index: 1, Permanent: true, Reason: "mapper_parsing_exception: failed to parse [source.ip]"},
			{Index: 2, Reason: "429 too many requests"},
		}}
	}
	s := &scriptedSink{results: []func([]detect.Alert) error{partial}}
	d, dead := start(t, sp, s)

	waitEmpty(t, sp)
	assert.Equal(t, []string{"ok", "busy"}, s.takenIDs(), "the busy alert is sent again, the bad one never")
	assert.Eventually(t, func() bool { return d.Stats().Delivered == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, int64(1), d.Stats().DeadLettered)

	entries := readDeadLetters(t, dead.Path())
	require.Len(t, entries, 1)
	assert.Equal(t, "test", entries[0]["sink"])
	assert.Equal(t, "mapper_parsing_exception: failed to parse [source.ip]", entries[0]["reason"])
	assert.Equal(t, "bad", entries[0]["alert"].(map[string]any)["alert_id"])
	info, err := os.Stat(dead.Path())
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}

func TestDeadLettersUnreadableSpoolEntries(t *testing.T) {
	sp := newSpool(t)
	require.NoError(t, sp.Append([][]byte{[]byte("not json")}))
	appendAlerts(t, sp, "a1")
	s := &scriptedSink{}
	_, dead := start(t, sp, s)

	waitEmpty(t, sp)
	assert.Equal(t, []string{"a1"}, s.takenIDs())
	entries := readDeadLetters(t, dead.Path())
	require.Len(t, entries, 1)
	assert.Equal(t, "not json", entries[0]["alert"])
}

func TestKeepsRejectsWhenDeadLetterFails(t *testing.T) {
	sp := newSpool(t)
	appendAlerts(t, sp, "bad")
	reject := func([]detect.Alert) error {
		return &sink.BatchError{Items: []sink.ItemError{{Index: 0, Permanent: true, Reason: "invalid"}}}
	}
	s := &scriptedSink{results: []func([]detect.Alert) error{reject}}
	dead := NewDeadLetter(filepath.Join(t.TempDir(), "no-such-folder", "dl.jsonl"))
	d := New(Config{RetryBase: time.Millisecond, RetryMax: time.Millisecond}, sp, s, dead, quietLog())
	d.Start()
	defer d.Stop(time.Second)

	require.Eventually(t, func() bool { return s.callCount() >= 2 }, 5*time.Second, time.Millisecond)
	assert.Contains(t, s.takenIDs(), "bad", "with the dead letter unwritable the alert stays and is sent again")
}

func TestStopDrainsThenLeavesTheRest(t *testing.T) {
	sp := newSpool(t)
	appendAlerts(t, sp, "a1", "a2")
	s := &scriptedSink{}
	d, _ := start(t, sp, s)
	assert.Equal(t, 0, d.Stop(5*time.Second))
	assert.Len(t, s.takenIDs(), 2)

	sp2 := newSpool(t)
	appendAlerts(t, sp2, "b1")
	var results []func([]detect.Alert) error
	for range 1000 {
		results = append(results, func([]detect.Alert) error { return errors.New("down") })
	}
	d2, _ := start(t, sp2, &scriptedSink{results: results})
	assert.Equal(t, 1, d2.Stop(50*time.Millisecond), "the undelivered alert stays in the spool")
}

func TestBackoffStaysInBounds(t *testing.T) {
	base, limit := 100*time.Millisecond, 2*time.Second
	for failures := 1; failures < 20; failures++ {
		ceiling := min(base<<min(failures-1, 30), limit)
		for range 50 {
			w := backoff(base, limit, failures)
			assert.GreaterOrEqual(t, w, ceiling/2, "failures %d", failures)
			assert.LessOrEqual(t, w, ceiling, "failures %d", failures)
		}
	}
}

func readDeadLetters(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []map[string]any
	s := bufio.NewScanner(f)
	for s.Scan() {
		var m map[string]any
		require.NoError(t, jsoniter.Unmarshal(s.Bytes(), &m), fmt.Sprintf("line %q", s.Text()))
		out = append(out, m)
	}
	return out
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestLingerSendsABurstAsOneBatch(t *testing.T) {
	sp := newSpool(t)
	s := &scriptedSink{}
	dead := NewDeadLetter(filepath.Join(t.TempDir(), "test.deadletter.jsonl"))
	d := New(Config{BatchSize: 100, Linger: 300 * time.Millisecond, SinkName: "test"}, sp, s, dead, quietLog())
	d.Start()
	t.Cleanup(func() { d.Stop(time.Second) })

	for i := range 5 {
		appendAlerts(t, sp, fmt.Sprintf("a%d", i))
		d.Notify()
	}

	waitEmpty(t, sp)
	assert.Equal(t, 1, s.callCount(), "five flushes within the linger make one batch")
	assert.Equal(t, []string{"a0", "a1", "a2", "a3", "a4"}, s.takenIDs())
}

func TestLingerSkipsAFullBatchAndShutdown(t *testing.T) {
	sp := newSpool(t)
	appendAlerts(t, sp, "a1", "a2", "a3")
	s := &scriptedSink{}
	dead := NewDeadLetter(filepath.Join(t.TempDir(), "test.deadletter.jsonl"))
	d := New(Config{BatchSize: 2, Linger: time.Hour, SinkName: "test"}, sp, s, dead, quietLog())
	d.Start()

	require.Eventually(t, func() bool { return len(s.takenIDs()) == 2 }, 5*time.Second, time.Millisecond,
		"a full batch is sent without waiting")
	assert.Equal(t, 0, d.Stop(5*time.Second), "shutdown sends the partial batch without the hour's linger")
	assert.Equal(t, []string{"a1", "a2", "a3"}, s.takenIDs())
}

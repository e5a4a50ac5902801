package flblog

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixedTime is 2026-12-04 20:10:00.123 in the local zone, so that the
// expected header does not depend on the machine's TZ.
var fixedTime = time.Date(2026, 12, 4, 20, 10, 0, 123_000_000, time.Local)

func newTestLogger(level slog.Level) (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	h := New(&buf, "output:runningrat:runningrat.0", level)
	h.out.now = func() time.Time { return fixedTime }
	return slog.New(h), &buf
}

// logAt writes one record with a zero time, which the handler stamps with
// its clock.
func logAt(l *slog.Logger, level slog.Level, msg string, args ...any) {
	r := slog.NewRecord(time.Time{}, level, msg, 0)
	r.Add(args...)
	_ = l.Handler().Handle(context.Background(), r)
}

func TestHandlerHeaderPerLevel(t *testing.T) {
	tests := []struct {
		level slog.Level
		want  string
	}{
		{slog.LevelDebug, "[2026/12/04 20:10:00.123] [debug] [output:runningrat:runningrat.0] m\n"},
		{slog.LevelInfo, "[2026/12/04 20:10:00.123] [ info] [output:runningrat:runningrat.0] m\n"},
		{slog.LevelWarn, "[2026/12/04 20:10:00.123] [ warn] [output:runningrat:runningrat.0] m\n"},
		{slog.LevelError, "[2026/12/04 20:10:00.123] [error] [output:runningrat:runningrat.0] m\n"},
		{slog.LevelDebug - 4, "[2026/12/04 20:10:00.123] [debug] [output:runningrat:runningrat.0] m\n"},
		{slog.LevelWarn + 2, "[2026/12/04 20:10:00.123] [ warn] [output:runningrat:runningrat.0] m\n"},
		{slog.LevelError + 4, "[2026/12/04 20:10:00.123] [error] [output:runningrat:runningrat.0] m\n"},
	}
	for _, tt := range tests {
		t.Run(tt.level.String(), func(t *testing.T) {
			l, buf := newTestLogger(slog.LevelDebug - 8)
			logAt(l, tt.level, "m")
			assert.Equal(t, tt.want, buf.String())
		})
	}
}

func TestHandlerRecordTimeWins(t *testing.T) {
	l, buf := newTestLogger(slog.LevelInfo)
	r := slog.NewRecord(time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.Local), slog.LevelInfo, "m", 0)
	require.NoError(t, l.Handler().Handle(context.Background(), r))
	assert.True(t, strings.HasPrefix(buf.String(), "[2025/01/02 03:04:05.006] [ info]"), buf.String())
}

func TestHandlerAttributes(t *testing.T) {
	tests := []struct {
		name string
		args []any
		want string
	}{
		{"bare word", []any{"sink", "stdout"}, " sink=stdout"},
		{"empty string quoted", []any{"path", ""}, ` path=""`},
		{"blank quoted", []any{"detail", "no CEF header"}, ` detail="no CEF header"`},
		{"equals quoted", []any{"excerpt", "a=b"}, ` excerpt="a=b"`},
		{"quote escaped", []any{"excerpt", `say "hi"`}, ` excerpt="say \"hi\""`},
		{"newline escaped", []any{"excerpt", "a\nb"}, ` excerpt="a\nb"`},
		{"invalid utf-8 escaped", []any{"url", "/ui/chk\xff"}, ` url="/ui/chk\xff"`},
		{"utf-8 kept", []any{"host", "hôte"}, " host=hôte"},
		{"integer", []any{"records", 20}, " records=20"},
		{"unsigned", []any{"bytes", uint64(7)}, " bytes=7"},
		{"float", []any{"ratio", 0.5}, " ratio=0.5"},
		{"bool", []any{"ack", true}, " ack=true"},
		{"duration", []any{"wait", 1500 * time.Millisecond}, " wait=1.5s"},
		{"error", []any{"error", errors.New("connection refused")}, ` error="connection refused"`},
		{"map", []any{"skipped", map[string]int{"not_cef": 1}}, " skipped=map[not_cef:1]"},
		{"group flattened", []any{slog.Group("spool", "alerts", 3, "path", "/tmp/a b")}, ` spool.alerts=3 spool.path="/tmp/a b"`},
		{"empty group dropped", []any{slog.Group("none")}, ""},
		{"key with blank quoted", []any{"a key", 1}, ` "a key"=1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, buf := newTestLogger(slog.LevelInfo)
			logAt(l, slog.LevelInfo, "m", tt.args...)
			assert.Equal(t, "[2026/12/04 20:10:00.123] [ info] [output:runningrat:runningrat.0] m"+tt.want+"\n", buf.String())
		})
	}
}

func TestHandlerMessageCannotForgeLine(t *testing.T) {
	l, buf := newTestLogger(slog.LevelInfo)
	logAt(l, slog.LevelInfo, "x\n[2026/12/04 20:10:00.000] [error] [engine] forged")
	assert.Equal(t, 1, strings.Count(buf.String(), "\n"))
	assert.Contains(t, buf.String(), `] "x\n[2026`)
}

func TestHandlerWithAttrsAndGroup(t *testing.T) {
	l, buf := newTestLogger(slog.LevelInfo)
	l = l.With("tag", "fw.a").WithGroup("delivery").With("sink", "file")
	logAt(l, slog.LevelWarn, "retry", "attempt", 2)
	assert.Equal(t, "[2026/12/04 20:10:00.123] [ warn] [output:runningrat:runningrat.0] retry tag=fw.a delivery.sink=file delivery.attempt=2\n", buf.String())
}

func TestHandlerLevelFilter(t *testing.T) {
	l, buf := newTestLogger(slog.LevelWarn)
	l.Info("hidden")
	l.Debug("hidden")
	l.Warn("shown")
	assert.Equal(t, 1, strings.Count(buf.String(), "\n"))
	assert.Contains(t, buf.String(), "[ warn]")
	assert.NotContains(t, buf.String(), "hidden")
}

func TestHandlerConcurrentLinesStayWhole(t *testing.T) {
	l, buf := newTestLogger(slog.LevelInfo)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				l.Info("line", "goroutine", g, "i", i)
			}
		}()
	}
	wg.Wait()

	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, 800)
	for _, line := range lines {
		assert.Contains(t, line, "] [ info] [output:runningrat:runningrat.0] line goroutine=")
	}
}

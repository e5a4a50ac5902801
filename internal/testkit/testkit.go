// Package testkit holds helpers that the tests of several packages share:
// the golden alerts as values, and a log buffer that concurrent goroutines
// write to. It is imported by tests only.
package testkit

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/detect"
)

// GoldenAlerts reads testdata/golden/<name>.jsonl, for example
// "pan-os.extended", found from this source file so that tests in any
// package can call it.
func GoldenAlerts(t testing.TB, name string) []detect.Alert {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	f, err := os.Open(filepath.Join(filepath.Dir(file), "..", "..", "testdata", "golden", name+".jsonl"))
	require.NoError(t, err)
	defer f.Close()

	var alerts []detect.Alert
	lines := bufio.NewScanner(f)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	for lines.Scan() {
		a, err := detect.ParseAlert(lines.Bytes())
		require.NoError(t, err)
		alerts = append(alerts, a)
	}
	require.NoError(t, lines.Err())
	require.NotEmpty(t, alerts)
	return alerts
}

// LogBuffer collects log output written by concurrent goroutines, for
// tests to search.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

package sink

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
)

func alerts(ids ...string) []detect.Alert {
	out := make([]detect.Alert, len(ids))
	for i, id := range ids {
		out[i] = detect.Alert{ID: id, Verdict: "exact", Event: detect.Columns{{Name: "RequestURL", Value: "/ui/chk"}}}
	}
	return out
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func TestFileSinkCreatesAndAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "alerts.json")
	s, err := OpenFile(path, format.Native)
	require.NoError(t, err)

	require.NoError(t, s.Send(context.Background(), alerts("1", "2")))
	require.NoError(t, s.Send(context.Background(), alerts("3")))
	require.NoError(t, s.Close(context.Background()))

	lines := readLines(t, path)
	require.Len(t, lines, 3)
	assert.Contains(t, lines[2], `"alert_id":"3"`)
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}

func TestFileSinkReopensAfterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.json")
	s, err := OpenFile(path, format.Native)
	require.NoError(t, err)
	defer s.Close(context.Background())

	require.NoError(t, s.Send(context.Background(), alerts("before")))
	require.NoError(t, os.Rename(path, path+".1"))
	require.NoError(t, s.Send(context.Background(), alerts("after")))

	assert.Len(t, readLines(t, path+".1"), 1)
	lines := readLines(t, path)
	require.Len(t, lines, 1)
	assert.Contains(t, lines[0], `"alert_id":"after"`)
}

func TestFileSinkConcurrentBatchesDoNotInterleave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.json")
	s, err := OpenFile(path, format.Native)
	require.NoError(t, err)
	defer s.Close(context.Background())

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				assert.NoError(t, s.Send(context.Background(), alerts("x", "y")))
			}
		}()
	}
	wg.Wait()

	lines := readLines(t, path)
	assert.Len(t, lines, 8*20*2)
	for _, l := range lines {
		_, err := detect.ParseAlert([]byte(l))
		assert.NoError(t, err)
	}
}

func TestWriterSink(t *testing.T) {
	var buf bytes.Buffer
	s := NewWriter(&buf, format.Native)
	require.NoError(t, s.Send(context.Background(), alerts("1")))
	assert.True(t, strings.HasPrefix(buf.String(), `{"@timestamp":"","alert_id":"1"`))
	assert.True(t, strings.HasSuffix(buf.String(), "}\n"))
}

func TestNewSink(t *testing.T) {
	_, err := New("file", Options{Config: config.Map{}})
	assert.ErrorContains(t, err, "Sink file needs Path")

	s, err := New("STDOUT", Options{Config: config.Map{}})
	require.NoError(t, err)
	assert.IsType(t, &Writer{}, s)

	_, err = New("nosuch", Options{Config: config.Map{}})
	assert.ErrorContains(t, err, `invalid Sink "nosuch": use one of`)
}

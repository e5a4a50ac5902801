package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/chunk"
	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/format"
	"github.com/edgehunt/runningrat/sink"
)

var update = flag.Bool("update", false, "rewrite the golden alert files under testdata/golden")

// sampleTime is the time of the first line of each sample file; line i gets
// sampleTime + i seconds, as `make run` and the end-to-end tests stamp them.
var sampleTime = time.Date(2025, 5, 14, 10, 21, 7, 0, time.UTC)

// TestGoldenSamples runs each vendor sample file through Flush in both
// modes and compares the alerts, byte for byte, with the golden files.
func TestGoldenSamples(t *testing.T) {
	samples, err := filepath.Glob("../testdata/samples/*.log")
	require.NoError(t, err)
	require.NotEmpty(t, samples)

	for _, mode := range []string{"exact", "extended"} {
		for _, path := range samples {
			name := strings.TrimSuffix(filepath.Base(path), ".log")
			t.Run(mode+"/"+name, func(t *testing.T) {
				got := runSample(t, path, mode)
				golden := filepath.Join("..", "testdata", "golden", name+"."+mode+".jsonl")
				if *update {
					require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
					require.NoError(t, os.WriteFile(golden, got, 0o644))
				}
				want, err := os.ReadFile(golden)
				require.NoError(t, err, "run go test ./pipeline -run TestGoldenSamples -update to create it")
				assert.Equal(t, string(want), string(got))
			})
		}
	}
}

func runSample(t *testing.T, path, mode string) []byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()

	var data []byte
	scanner := bufio.NewScanner(f)
	for i := 0; scanner.Scan(); i++ {
		at := sampleTime.Add(time.Duration(i) * time.Second)
		data = chunk.Encoder{}.Append(data, at, []string{"log"}, []string{scanner.Text()})
	}
	require.NoError(t, scanner.Err())

	var buf bytes.Buffer
	out, _ := newOutputWithSink(t, config.Map{"Detection_Mode": mode}, sink.NewWriter(&buf, format.Native))

	tag := "fw." + strings.TrimSuffix(filepath.Base(path), ".log")
	require.Equal(t, OK, out.Flush(data, tag))
	require.NoError(t, out.Close(context.Background()))
	return buf.Bytes()
}

package pipeline

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgehunt/runningrat/chunk"
	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
)

// benchChunk builds a chunk of about 2 MB, the size in_tail hands over,
// from the benign lines of the vendor samples, with one hit per 1000 lines.
func benchChunk(b *testing.B) ([]byte, int) {
	b.Helper()
	paths, _ := filepath.Glob("../testdata/samples/*.log")
	var benignLines []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			benignLines = append(benignLines, s.Text())
		}
		f.Close()
	}

	rule, _ := detect.Compile(&detect.RunningRAT)
	var plain []string
	for _, l := range benignLines {
		if !rule.MayMatch([]byte(l), detect.Extended) {
			plain = append(plain, l)
		}
	}

	var data []byte
	n := 0
	for len(data) < 2<<20 {
		line := plain[n%len(plain)]
		if n%1000 == 999 {
			line = zscalerHit
		}
		data = chunk.TailEncoder.Append(data, when, []string{"log"}, []string{line})
		n++
	}
	return data, n
}

func benchmarkFlush(b *testing.B, mode string) {
	data, records := benchChunk(b)
	out, _ := newOutputWithSink(b, config.Map{"Detection_Mode": mode}, discardSink{})

	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if out.Flush(data, "bench") != OK {
			b.Fatal("flush failed")
		}
	}
	b.ReportMetric(float64(records)*float64(b.N)/time.Since(start).Seconds(), "records/s")
}

func BenchmarkFlushExact(b *testing.B)    { benchmarkFlush(b, "exact") }
func BenchmarkFlushExtended(b *testing.B) { benchmarkFlush(b, "extended") }

type discardSink struct{}

func (discardSink) Send(_ context.Context, _ []detect.Alert) error { return nil }
func (discardSink) Close(context.Context) error                    { return nil }

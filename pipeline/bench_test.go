package pipeline

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgehunt/runningrat/chunk"
	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
)

// recordShape turns a log line into a record's keys and values.
type recordShape func(line string) (keys, values []string)

// tailRecord is in_tail's record without a parser: the line under "log".
func tailRecord(line string) ([]string, []string) {
	return []string{"log"}, []string{line}
}

// syslogRecord is how in_syslog's syslog-rfc3164 parser splits a line: for a
// CEF line, "CEF" becomes the ident and what follows "CEF:" the message.
func syslogRecord(line string) ([]string, []string) {
	keys := []string{"pri", "time", "host", "ident", "message"}
	if _, after, ok := strings.Cut(line, "CEF:"); ok {
		return keys, []string{"134", "May 14 10:21:07", "fw01", "CEF", after}
	}
	return keys, []string{"189", "May 14 10:22:09", "fw02", "FGT", line}
}

// benchChunk builds a chunk of about 2 MB, the size in_tail hands over,
// from the benign lines of the vendor samples, with one hit per 1000 lines.
func benchChunk(b *testing.B, shape recordShape) ([]byte, int) {
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
		keys, values := shape(line)
		data = chunk.TailEncoder.Append(data, when, keys, values)
		n++
	}
	return data, n
}

func benchmarkFlush(b *testing.B, mode string, shape recordShape) {
	data, records := benchChunk(b, shape)
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

func BenchmarkFlushExact(b *testing.B)    { benchmarkFlush(b, "exact", tailRecord) }
func BenchmarkFlushExtended(b *testing.B) { benchmarkFlush(b, "extended", tailRecord) }

// BenchmarkFlushSyslogFields flushes records as in_syslog writes them, which
// take the general field walk and get their "CEF:" back before the checks.
func BenchmarkFlushSyslogFields(b *testing.B) { benchmarkFlush(b, "extended", syslogRecord) }

type discardSink struct{}

func (discardSink) Send(_ context.Context, _ []detect.Alert) error { return nil }
func (discardSink) Close(context.Context) error                    { return nil }

// BenchmarkFlushParallel flushes the benign-heavy chunk from several
// goroutines into one instance, as Fluent Bit's output workers do. Run with
// -cpu 1,2: without a lock on the hot path, records/s grows with the cores.
func BenchmarkFlushParallel(b *testing.B) {
	data, records := benchChunk(b, tailRecord)
	out, _ := newOutputWithSink(b, config.Map{"Detection_Mode": "extended"}, discardSink{})

	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if out.Flush(data, "bench") != OK {
				b.Error("flush failed")
				return
			}
		}
	})
	b.ReportMetric(float64(records)*float64(b.N)/time.Since(start).Seconds(), "records/s")
}

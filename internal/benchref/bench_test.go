package benchref

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"

	"github.com/edgehunt/runningrat/cef"
	"github.com/edgehunt/runningrat/chunk"
	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/pipeline"
)

const chunkSize = 2 << 20 // in_tail hands over chunks of about 2 MB

var when = time.Date(2025, 5, 14, 10, 21, 7, 0, time.UTC)

// sampleLines returns the vendor sample lines split into those that raise
// an alert in extended mode and those that the prefilter rejects. Near
// misses, which pass the prefilter and raise nothing, are in neither.
func sampleLines(tb testing.TB) (hits, benign []string) {
	tb.Helper()
	paths, err := filepath.Glob("../../testdata/samples/*.log")
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no samples: %v", err)
	}
	rule, err := detect.Compile(&detect.RunningRAT)
	if err != nil {
		tb.Fatal(err)
	}
	var rec cef.Record
	var m detect.Match
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			tb.Fatal(err)
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			line := s.Text()
			switch {
			case !rule.MayMatch([]byte(line), detect.Extended):
				benign = append(benign, line)
			case rec.ParseLine([]byte(line)) == nil && rule.Evaluate(&rec, detect.Extended, &m) != detect.NoMatch:
				hits = append(hits, line)
			}
		}
		f.Close()
	}
	if len(hits) == 0 || len(benign) == 0 {
		tb.Fatalf("samples give %d hits and %d benign lines", len(hits), len(benign))
	}
	return hits, benign
}

// buildChunk makes a 2 MB chunk of the four vendors' lines, every
// maliciousEvery-th record a hit (0: none, 1: all), the hits taken in turn.
func buildChunk(tb testing.TB, maliciousEvery int) (data []byte, records int) {
	tb.Helper()
	hits, benign := sampleLines(tb)
	hit := 0
	for len(data) < chunkSize {
		line := benign[records%len(benign)]
		if maliciousEvery > 0 && records%maliciousEvery == maliciousEvery-1 {
			line = hits[hit%len(hits)]
			hit++
		}
		data = chunk.TailEncoder.Append(data, when.Add(time.Duration(records)), []string{"log"}, []string{line})
		records++
	}
	return data, records
}

type discardSink struct{}

func (discardSink) Send(context.Context, []detect.Alert) error { return nil }
func (discardSink) Close(context.Context) error                { return nil }

func newOutput(b *testing.B, mode string) *pipeline.Output {
	b.Helper()
	cfg, err := pipeline.LoadConfig(config.Map{"Detection_Mode": mode, "Spool_Dir": b.TempDir(), "Spool_Max_Size": "4G"})
	if err != nil {
		b.Fatal(err)
	}
	rule, err := detect.Compile(&detect.RunningRAT)
	if err != nil {
		b.Fatal(err)
	}
	out, err := pipeline.NewWithSink(cfg, rule, discardSink{}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { out.Close(context.Background()) })
	return out
}

// report adds records/s and allocs/record to the benchmark's output.
func report(b *testing.B, records int, start time.Time, before runtime.MemStats) {
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	total := float64(records) * float64(b.N)
	b.ReportMetric(total/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/record")
}

var mixes = []struct {
	name  string
	every int
}{
	{"benign-only", 0},
	{"benign-heavy", 1000},
	{"all-malicious", 1},
}

// BenchmarkPlugin is the plugin's whole flush: walk, classify, header check,
// prefilter, parse and evaluate what may match, encode and spool alerts.
func BenchmarkPlugin(b *testing.B) {
	for _, mix := range mixes {
		for _, mode := range []string{"exact", "extended"} {
			b.Run(mix.name+"/"+mode, func(b *testing.B) {
				data, records := buildChunk(b, mix.every)
				out := newOutput(b, mode)
				b.SetBytes(int64(len(data)))

				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				start := time.Now()
				for b.Loop() {
					if out.Flush(data, "fw.bench") != pipeline.OK {
						b.Fatal("flush failed")
					}
				}
				report(b, records, start, before)

				// The hits must raise alerts, or the benchmark measures
				// benign records only.
				stats := out.Stats()
				b.ReportMetric(float64(stats.ExactAlerts+stats.ExtendedAlerts)/float64(b.N), "alerts/chunk")
				if mix.every > 0 && stats.ExactAlerts+stats.ExtendedAlerts == 0 {
					b.Fatal("no alert raised")
				}
			})
		}
	}
}

// stockNeedles are the rule's values, lower-cased for a plain substring
// search: what a first plugin would do, and wrong at term boundaries.
var stockNeedles = []string{"/ui/chk", "mactok=", "usrnme=", "ilocalp=", "kmnd="}

// BenchmarkStock decodes each record with fluent-bit-go's decoder, as its
// examples do, and matches with lower-case substring searches.
func BenchmarkStock(b *testing.B) {
	for _, mix := range mixes {
		b.Run(mix.name, func(b *testing.B) {
			data, records := buildChunk(b, mix.every)
			b.SetBytes(int64(len(data)))

			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			hits := 0
			for b.Loop() {
				dec := output.NewDecoder(unsafe.Pointer(&data[0]), len(data))
				for {
					ret, _, record := output.GetRecord(dec)
					if ret != 0 {
						break
					}
					raw, ok := record["log"].([]byte)
					if !ok {
						continue
					}
					line := strings.ToLower(string(raw))
					if !strings.Contains(line, "requestmethod=get") {
						continue
					}
					for _, n := range stockNeedles {
						if strings.Contains(line, n) {
							hits++
							break
						}
					}
				}
			}
			report(b, records, start, before)
			if mix.every == 1 && hits == 0 {
				b.Fatal("the stock matcher found nothing in the all-malicious chunk")
			}
		})
	}
}

// BenchmarkFloor is one bytes.Index pass over the chunk, for a needle that
// does not occur: the least work any detector must do.
func BenchmarkFloor(b *testing.B) {
	for _, mix := range mixes {
		b.Run(mix.name, func(b *testing.B) {
			data, records := buildChunk(b, mix.every)
			b.SetBytes(int64(len(data)))
			needle := []byte("no such needle=")

			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			for b.Loop() {
				if bytes.Index(data, needle) >= 0 {
					b.Fatal("needle found")
				}
			}
			report(b, records, start, before)
		})
	}
}

// BenchmarkPathological flushes one record whose URL is sizes of near
// misses ("mactok" without "=", "/ui/chkx", "%2Fui%2Fchk1"), in extended
// mode, to show that the cost grows linearly with the record.
func BenchmarkPathological(b *testing.B) {
	for _, size := range []int{64 << 10, 256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			var url strings.Builder
			for url.Len() < size {
				url.WriteString("mactok&/ui/chkx&kmndx=%2Fui%2Fchk1&")
			}
			line := "CEF:0|V|P|1|2|n|3|requestMethod=GET request=" + url.String()
			data := chunk.TailEncoder.Append(nil, when, []string{"log"}, []string{line})
			out := newOutput(b, "extended")
			b.SetBytes(int64(len(data)))

			start := time.Now()
			for b.Loop() {
				if out.Flush(data, "fw.bench") != pipeline.OK {
					b.Fatal("flush failed")
				}
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N)/float64(len(data)), "ns/byte")
		})
	}
}

// BenchmarkTenMillionRecords flushes the benign-heavy chunk until 10
// million records have passed and reports how much the live heap grew
// between the first million and the end: it should stay flat.
func BenchmarkTenMillionRecords(b *testing.B) {
	data, records := buildChunk(b, 1000)
	out := newOutput(b, "extended")
	flushes := 10_000_000 / records

	for b.Loop() {
		var first, last runtime.MemStats
		for i := range flushes {
			if out.Flush(data, "fw.bench") != pipeline.OK {
				b.Fatal("flush failed")
			}
			if i == 1_000_000/records {
				runtime.GC()
				runtime.ReadMemStats(&first)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&last)
		b.ReportMetric(float64(int64(last.HeapAlloc)-int64(first.HeapAlloc)), "heap-growth-bytes")
		b.ReportMetric(float64(last.HeapAlloc), "heap-bytes")
	}
}

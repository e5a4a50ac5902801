package spool

import (
	"bytes"
	"path/filepath"
	"testing"
)

// BenchmarkAppend measures one flush's spool write: one transaction with
// one alert of 1.6 KB, synced to disk. Its cost is the time a flush with an
// alert waits, whatever the state of the sink.
func BenchmarkAppend(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(map[int]string{1: "1-alert", 10: "10-alerts"}[n], func(b *testing.B) {
			s, _, err := Open(filepath.Join(b.TempDir(), "bench.spool"), 0, quiet())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			batch := make([][]byte, n)
			for i := range batch {
				batch[i] = bytes.Repeat([]byte("x"), 1600)
			}

			b.ReportAllocs()
			for b.Loop() {
				if err := s.Append(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package spool

import (
	"bytes"
	"path/filepath"
	"testing"
)

// BenchmarkAppend measures one flush's spool write: one transaction with
// alerts of 1.6 KB, synced to disk or left to the page cache (NoSync). Its
// cost is the time a flush with an alert waits, whatever the state of the
// sink.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name string
		n    int
		opts Options
	}{
		{"1-alert/sync", 1, Options{}},
		{"10-alerts/sync", 10, Options{}},
		{"1-alert/nosync", 1, Options{NoSync: true}},
		{"10-alerts/nosync", 10, Options{NoSync: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, _, err := Open(filepath.Join(b.TempDir(), "bench.spool"), bc.opts, quiet())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			batch := make([][]byte, bc.n)
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

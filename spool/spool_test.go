package spool

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func open(t *testing.T, path string, max int64) (*Spool, Recovery) {
	t.Helper()
	s, rec, err := Open(path, Options{MaxBytes: max}, quiet())
	require.NoError(t, err)
	return s, rec
}

func values(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf(`{"alert_id":"%s-%03d"}`, prefix, i))
	}
	return out
}

func keys(items []Item) []uint64 {
	out := make([]uint64, len(items))
	for i, it := range items {
		out[i] = it.Key
	}
	return out
}

func TestSpoolFIFO(t *testing.T) {
	s, _ := open(t, filepath.Join(t.TempDir(), "a", "spool.db"), 0)
	defer s.Close()

	require.NoError(t, s.Append(values("x", 3)))
	require.NoError(t, s.Append(values("y", 2)))
	assert.Equal(t, 5, s.Len())

	items, err := s.Peek(4)
	require.NoError(t, err)
	require.Len(t, items, 4)
	assert.Equal(t, `{"alert_id":"x-000"}`, string(items[0].Value))
	assert.Equal(t, `{"alert_id":"y-000"}`, string(items[3].Value))

	require.NoError(t, s.Delete(keys(items[:2])))
	items, err = s.Peek(10)
	require.NoError(t, err)
	assert.Len(t, items, 3)
	assert.Equal(t, `{"alert_id":"x-002"}`, string(items[0].Value))
	assert.Equal(t, int64(len(`{"alert_id":"x-002"}`)*3), s.Bytes())
}

func TestSpoolFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s, _ := open(t, path, 0)
	defer s.Close()
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}

func TestSpoolFull(t *testing.T) {
	s, _ := open(t, filepath.Join(t.TempDir(), "spool.db"), 100)
	defer s.Close()

	require.NoError(t, s.Append(values("a", 4))) // 4 x 20 bytes
	assert.ErrorIs(t, s.Append(values("b", 2)), ErrFull)
	assert.Equal(t, 4, s.Len(), "a rejected append adds nothing")

	items, _ := s.Peek(2)
	require.NoError(t, s.Delete(keys(items)))
	assert.NoError(t, s.Append(values("b", 2)))
}

func TestSpoolEmptyTakesAnOversizedBatch(t *testing.T) {
	s, _ := open(t, filepath.Join(t.TempDir(), "spool.db"), 30)
	defer s.Close()

	require.NoError(t, s.Append(values("a", 3)), "a flush bigger than the limit gets into an empty spool")
	assert.ErrorIs(t, s.Append(values("b", 1)), ErrFull)
}

func TestSpoolSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s, _ := open(t, path, 0)
	require.NoError(t, s.Append(values("x", 3)))
	require.NoError(t, s.Close())

	s, rec := open(t, path, 0)
	defer s.Close()
	assert.False(t, rec.Damaged)
	assert.Equal(t, 3, s.Len())
	require.NoError(t, s.Append(values("y", 1)))
	items, _ := s.Peek(10)
	assert.Equal(t, `{"alert_id":"y-000"}`, string(items[3].Value), "new alerts go after the old ones")
}

func TestOpenAppliesNoSync(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoSync=%v", noSync), func(t *testing.T) {
			s, _, err := Open(filepath.Join(t.TempDir(), "spool.db"), Options{NoSync: noSync}, quiet())
			require.NoError(t, err)
			defer s.Close()

			assert.Equal(t, noSync, s.db.NoSync)
		})
	}
}

// A NoSync spool leaves the disk to the kernel, but a committed Append must
// already be in the file, so that a killed process loses nothing. A copy
// taken while the spool is open reads what a restarted process would read.
func TestNoSyncAppendReachesFile(t *testing.T) {
	dir := t.TempDir()
	s, _, err := Open(filepath.Join(dir, "spool.db"), Options{NoSync: true}, quiet())
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Append(values("kill", 3)))

	data, err := os.ReadFile(filepath.Join(dir, "spool.db"))
	require.NoError(t, err)
	copied := filepath.Join(dir, "copy.db")
	require.NoError(t, os.WriteFile(copied, data, 0o600))
	reopened, rec, err := Open(copied, Options{}, quiet())
	require.NoError(t, err)
	defer reopened.Close()

	assert.False(t, rec.Damaged)
	items, err := reopened.Peek(10)
	require.NoError(t, err)
	require.Len(t, items, 3)
	assert.Equal(t, `{"alert_id":"kill-002"}`, string(items[2].Value))
}

func TestSpoolLockedByAnotherInstance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool.db")
	s, _ := open(t, path, 0)
	defer s.Close()

	_, _, err := Open(path, Options{}, quiet())
	assert.ErrorContains(t, err, "is locked by another process or output instance")
}

func TestSpoolConcurrentAppendAndDelete(t *testing.T) {
	s, _ := open(t, filepath.Join(t.TempDir(), "spool.db"), 0)
	defer s.Close()

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				assert.NoError(t, s.Append(values(fmt.Sprintf("w%d-%d", w, i), 2)))
			}
		}()
	}
	deleted := 0
	for deleted < 200 {
		items, err := s.Peek(7)
		require.NoError(t, err)
		require.NoError(t, s.Delete(keys(items)))
		deleted += len(items)
	}
	wg.Wait()
	assert.Equal(t, 0, s.Len())
	assert.Equal(t, int64(0), s.Bytes())
}

// pageSize is bbolt's page size on this machine, read from the file: the
// first meta page stores it at offset 24 (after the page header of 16
// bytes, magic 4, version 4).
func pageSize(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return int(uint32(data[24]) | uint32(data[25])<<8 | uint32(data[26])<<16 | uint32(data[27])<<24)
}

func TestSpoolDamaged(t *testing.T) {
	tests := []struct {
		name string
		// damage changes the file of a closed spool holding 1000 alerts.
		damage        func(t *testing.T, path string)
		wantDamaged   bool
		wantRecovered int // minimum number of alerts kept, -1 for any
	}{
		{"torn first meta page", func(t *testing.T, path string) {
			// bbolt keeps two meta pages and falls back to the other one
			// when a checksum fails, so a write torn in a meta page rolls
			// back at most the last transaction: one that a crash
			// interrupted before its fsync returned, so the flush never
			// returned OK and Fluent Bit sends the chunk again.
			overwrite(t, path, 0, 4096, 0x00)
		}, false, 995},
		{"not a bbolt file", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte("garbage "), 4096), 0o600))
		}, true, 0},
		{"truncated to two pages", func(t *testing.T, path string) {
			require.NoError(t, os.Truncate(path, int64(2*pageSize(t, path))))
		}, true, -1},
		{"truncated to half", func(t *testing.T, path string) {
			info, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(path, info.Size()/2))
		}, true, 1},
		{"garbage in the data pages", func(t *testing.T, path string) {
			size := pageSize(t, path)
			info, err := os.Stat(path)
			require.NoError(t, err)
			overwrite(t, path, 4*size, int(info.Size())-4*size, 0xAB)
		}, true, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "spool.db")
			s, _ := open(t, path, 0)
			for range 200 {
				require.NoError(t, s.Append(values("x", 5)))
			}
			require.NoError(t, s.Close())
			tt.damage(t, path)

			s, rec := open(t, path, 0)
			defer s.Close()
			t.Logf("recovery: %+v, alerts kept: %d", rec, s.Len())
			assert.Equal(t, tt.wantDamaged, rec.Damaged, rec.Reason)
			if tt.wantRecovered >= 0 {
				assert.GreaterOrEqual(t, s.Len(), tt.wantRecovered)
			} else {
				assert.LessOrEqual(t, s.Len(), 1000)
			}
			if rec.Damaged {
				assert.Equal(t, rec.Recovered, s.Len())
				assert.FileExists(t, rec.MovedTo, "the damaged file is kept for inspection")
				assert.NotEmpty(t, rec.Reason)
			}

			require.NoError(t, s.Append(values("after", 1)), "the spool works after recovery")
			items, err := s.Peek(2000)
			require.NoError(t, err)
			assert.Equal(t, `{"alert_id":"after-000"}`, string(items[len(items)-1].Value))
		})
	}
}

func overwrite(t *testing.T, path string, offset, n int, b byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt(bytes.Repeat([]byte{b}, n), int64(offset))
	require.NoError(t, err)
}

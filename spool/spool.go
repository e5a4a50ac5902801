// Package spool is the durable queue between detection and delivery: each
// flush appends its alerts in one transaction, and delivery reads them back
// in order and deletes what the sink has taken. It is the only state of the
// plugin that outlives a flush and a restart.
//
// The queue lives in a bbolt file: a single-file embedded B+tree store with
// fully serialised write transactions and checksummed meta pages, so a
// crash of the process in the middle of a write leaves the last committed
// state. Whether each transaction is also synced to the disk, which makes
// it survive a power loss or a crash of the host, is an Option.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrFull is returned by Append when the alerts would take the spool past
// its maximum size. The caller asks Fluent Bit to retry the chunk later.
var ErrFull = errors.New("spool is full")

var (
	bucketName = []byte("alerts")
	// stateBucket holds small named values that must survive a restart
	// with the alerts, such as roll-up counts in progress.
	stateBucket = []byte("state")
)

// lockTimeout bounds the wait for the file lock that bbolt takes, so that a
// second instance configured with the same spool fails at start instead of
// hanging.
const lockTimeout = 2 * time.Second

// Item is one queued alert.
type Item struct {
	Key   uint64
	Value []byte // a copy, valid after the read transaction
}

// Spool is a durable FIFO queue of encoded alerts. It is safe for
// concurrent use.
type Spool struct {
	db   *bolt.DB
	path string
	opts Options

	mu    sync.Mutex // serialises writes with the accounting below
	bytes int64      // total size of queued values
	count int
}

// Options tune a spool. The zero value syncs every transaction and sets
// no size limit.
type Options struct {
	// MaxBytes bounds the total size of queued values; zero means no bound.
	MaxBytes int64
	// NoSync leaves each committed transaction in the operating system's
	// page cache instead of waiting for the disk, as Fluent Bit's own
	// filesystem buffer does with storage.sync normal. A committed write
	// survives a crash or kill of the process. A power loss or a crash of
	// the host before the kernel writes it back can lose it, bring back
	// alerts already deleted, or damage the file. bbolt checksums only its
	// meta pages, so Open detects and salvages some of that damage, not all.
	// Close syncs once.
	NoSync bool
}

// Recovery describes what Open found in a damaged spool file.
type Recovery struct {
	Damaged   bool
	Reason    string // the damage found in the file
	Recovered int    // alerts copied into the new spool
	// Lost is the number of alerts that the damaged file listed but that
	// could not be read, or -1 when the file was too damaged to tell.
	Lost    int
	MovedTo string // path of the damaged file, kept for inspection
}

// Open opens the spool file at path, creating it and its folder if needed.
// A file that bbolt cannot open or whose consistency check fails is moved
// aside, and whatever can be read from it is copied into a new spool. The
// returned Recovery describes what happened, for the caller to log.
func Open(path string, opts Options, log *slog.Logger) (*Spool, Recovery, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dirOf(path), 0o700); err != nil {
		return nil, Recovery{}, fmt.Errorf("create spool folder: %w", err)
	}

	var rec Recovery
	db, err := openChecked(path)
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, rec, fmt.Errorf("spool %s is locked by another process or output instance: give each instance its own Spool_Name", path)
		}
		rec, db, err = salvage(path, err, log)
		if err != nil {
			return nil, rec, err
		}
	}

	// Set only now: the salvage and the checks above are rare and synced.
	db.NoSync = opts.NoSync
	s := &Spool{db: db, path: path, opts: opts}
	if err := s.load(); err != nil {
		db.Close()
		return nil, rec, err
	}
	return s, rec, nil
}

// openChecked opens path, reads every queued alert once and runs bbolt's
// consistency check. bbolt panics on some damaged pages, and a page that
// points past the end of a truncated file faults in the memory map, which
// would kill the whole agent. SetPanicOnFault turns such a fault into a
// panic on this goroutine, and the recovered panic becomes an error.
func openChecked(path string) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if db != nil {
				db.Close()
			}
			db, err = nil, fmt.Errorf("reading the file panicked: %v", p)
		}
	}()

	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	err = db.View(func(tx *bolt.Tx) error {
		// Touch every page here, where a fault is caught, before tx.Check
		// reads them again on a goroutine of its own.
		if err := tx.Bucket(bucketName).ForEach(func(k, _ []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("key of %d bytes, expected 8", len(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for problem := range tx.Check() {
			return problem
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("consistency check failed: %w", err)
	}
	return db, nil
}

// load computes the size and count of the queue.
func (s *Spool) load() error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketName).ForEach(func(_, v []byte) error {
			s.bytes += int64(len(v))
			s.count++
			return nil
		})
	})
}

// Append adds values in one transaction, committed to the file (and synced
// to the disk unless NoSync) before it returns.
// It returns ErrFull, adding nothing, when they would take a non-empty queue
// past its maximum size.
func (s *Spool) Append(values [][]byte) error {
	var size int64
	for _, v := range values {
		size += int64(len(v))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	// An empty spool takes any one batch, so that a flush whose alerts alone
	// exceed the limit is not refused for ever.
	if s.opts.MaxBytes > 0 && s.bytes > 0 && s.bytes+size > s.opts.MaxBytes {
		return ErrFull
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName)
		for _, v := range values {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(keyOf(seq), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append %d alerts to spool %s: %w", len(values), s.path, err)
	}
	s.bytes += size
	s.count += len(values)
	return nil
}

// Peek returns up to max items from the head of the queue, oldest first.
func (s *Spool) Peek(max int) ([]Item, error) {
	var items []Item
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketName).Cursor()
		for k, v := c.First(); k != nil && len(items) < max; k, v = c.Next() {
			items = append(items, Item{Key: binary.BigEndian.Uint64(k), Value: append([]byte(nil), v...)})
		}
		return nil
	})
	return items, err
}

// Delete removes the items with the given keys in one transaction.
func (s *Spool) Delete(keys []uint64) error {
	if len(keys) == 0 {
		return nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var freed int64
	removed := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName)
		for _, k := range keys {
			key := keyOf(k)
			v := b.Get(key)
			if v == nil {
				continue
			}
			freed += int64(len(v))
			removed++
			if err := b.Delete(key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete %d alerts from spool %s: %w", len(keys), s.path, err)
	}
	s.bytes -= freed
	s.count -= removed
	return nil
}

// SaveState stores value under name in one transaction, as Append does.
func (s *Spool) SaveState(name string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(stateBucket)
		if err != nil {
			return err
		}
		return b.Put([]byte(name), value)
	})
	if err != nil {
		return fmt.Errorf("save %s in spool %s: %w", name, s.path, err)
	}
	return nil
}

// LoadState returns the value stored under name, or nil.
func (s *Spool) LoadState(name string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(stateBucket); b != nil {
			if v := b.Get([]byte(name)); v != nil {
				out = append([]byte(nil), v...)
			}
		}
		return nil
	})
	return out, err
}

// Len returns the number of queued alerts.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Bytes returns the total size of the queued alerts.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Path returns the spool file's path.
func (s *Spool) Path() string {
	return s.path
}

// Close closes the file, after syncing it when the spool was opened with
// NoSync. Queued alerts stay in it for the next Open.
func (s *Spool) Close() error {
	var syncErr error
	if s.opts.NoSync {
		syncErr = s.db.Sync()
	}
	if err := s.db.Close(); err != nil {
		return err
	}
	if syncErr != nil {
		return fmt.Errorf("sync spool %s: %w", s.path, syncErr)
	}
	return nil
}

func keyOf(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func dirOf(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if os.IsPathSeparator(path[i]) {
			if i == 0 {
				return "/"
			}
			return path[:i]
		}
	}
	return "."
}

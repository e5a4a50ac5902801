package delivery

import (
	"fmt"
	"os"
	"sync"
	"time"

	jsoniter "github.com/json-iterator/go"
)

// DeadLetter is the file that keeps alerts a sink rejected for good, one
// JSON object per line with the time, the sink, its reason and the alert as
// it was spooled. Writes are synced before the alert leaves the spool.
type DeadLetter struct {
	path string

	mu    sync.Mutex
	count int64
}

// deadLetterEntry is one line of the dead-letter file.
type deadLetterEntry struct {
	Time   string              `json:"time"`
	Sink   string              `json:"sink"`
	Reason string              `json:"reason"`
	Alert  jsoniter.RawMessage `json:"alert"`
}

// NewDeadLetter returns the dead-letter file at path; it is created with
// mode 0600 on the first write.
func NewDeadLetter(path string) *DeadLetter {
	return &DeadLetter{path: path}
}

// Path returns the file's path.
func (d *DeadLetter) Path() string {
	return d.path
}

// Count returns how many alerts were written since start.
func (d *DeadLetter) Count() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.count
}

// rejected is one alert for the dead-letter file.
type rejected struct {
	alert  []byte // the spooled alert, valid JSON or not
	reason string
}

// Write appends entries and syncs the file.
func (d *DeadLetter) Write(sinkName string, entries []rejected) error {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var buf []byte
	for _, e := range entries {
		alert := jsoniter.RawMessage(e.alert)
		if !jsoniter.Valid(e.alert) {
			// A spool entry that is not JSON is kept as a JSON string.
			quoted, _ := jsoniter.Marshal(string(e.alert))
			alert = quoted
		}
		line, err := jsoniter.Marshal(deadLetterEntry{Time: now, Sink: sinkName, Reason: e.reason, Alert: alert})
		if err != nil {
			return fmt.Errorf("encode dead-letter entry: %w", err)
		}
		buf = append(append(buf, line...), '\n')
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open dead-letter file: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(buf); err != nil {
		return fmt.Errorf("write dead-letter file %s: %w", d.path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync dead-letter file %s: %w", d.path, err)
	}
	d.count += int64(len(entries))
	return nil
}

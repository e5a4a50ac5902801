// Package rollup folds repeated alerts into one. Within a suppression
// window, the first alert of a key (a rule and the values of the
// Suppress_By columns) is sent at once. Its later hits are counted and sent
// as a single roll-up alert when the window ends. Nothing is dropped
// without being counted, and the counts in progress are kept in a state
// file so that they survive a restart.
package rollup

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	jsoniter "github.com/json-iterator/go"

	"github.com/edgehunt/runningrat/detect"
)

// maxIDsPerRollup bounds the alert ids a roll-up lists; the count is
// always complete.
const maxIDsPerRollup = 100

// Store keeps the roller's state across restarts: the spool, whose writes
// are committed before they return.
type Store interface {
	LoadState(name string) ([]byte, error)
	SaveState(name string, value []byte) error
}

// stateName is the name of the roll-up state in the Store.
const stateName = "rollup"

// Roller holds the open windows of one output instance. It is safe for
// concurrent use.
type Roller struct {
	window time.Duration
	by     []string
	store  Store

	mu      sync.Mutex
	windows map[string]*Window
}

// Window is one key's open suppression window.
type Window struct {
	Key       string       `json:"key"`
	Start     time.Time    `json:"start"`
	End       time.Time    `json:"end"`
	First     detect.Alert `json:"first"` // the alert sent at once
	Count     int64        `json:"count"` // hits held back since
	FirstSeen string       `json:"first_seen,omitempty"`
	LastSeen  string       `json:"last_seen,omitempty"`
	AlertIDs  []string     `json:"alert_ids,omitempty"`
}

// Open returns a Roller whose windows last window and whose keys are the
// rule id and the columns by. Windows that an earlier run left in store
// are loaded.
func Open(window time.Duration, by []string, store Store) (*Roller, error) {
	r := &Roller{window: window, by: by, store: store, windows: map[string]*Window{}}
	data, err := store.LoadState(stateName)
	if err != nil {
		return nil, fmt.Errorf("read roll-up state: %w", err)
	}
	if data == nil {
		return r, nil
	}
	var saved []*Window
	if err := jsoniter.Unmarshal(data, &saved); err != nil {
		return nil, fmt.Errorf("the roll-up state in the spool is not valid JSON (%v): move the spool away to start afresh", err)
	}
	for _, w := range saved {
		r.windows[w.Key] = w
	}
	return r, nil
}

// Filter returns the alerts to send now: the first alert of each key in its
// window. It counts the others in their windows and saves the state before
// it returns, so that a flush that returns OK loses no count.
func (r *Roller) Filter(alerts []detect.Alert, now time.Time) ([]detect.Alert, error) {
	r.mu.Lock()
	defer r.mu.Unlock()

	send := alerts[:0:0]
	changed := false
	for i := range alerts {
		a := alerts[i]
		key := r.keyOf(&a)
		w, open := r.windows[key]
		if open && !now.Before(w.End) {
			// An ended window that Due has not collected yet moves aside
			// for it, and the new hit opens the next window.
			delete(r.windows, key)
			w.Key = key + "\x00ended " + w.End.UTC().Format(time.RFC3339Nano)
			r.windows[w.Key] = w
			open = false
		}
		if !open {
			r.windows[key] = &Window{Key: key, Start: now, End: now.Add(r.window), First: a}
			send = append(send, a)
			changed = true
			continue
		}
		w.Count++
		if w.FirstSeen == "" || a.Timestamp < w.FirstSeen {
			w.FirstSeen = a.Timestamp
		}
		if a.Timestamp > w.LastSeen {
			w.LastSeen = a.Timestamp
		}
		if len(w.AlertIDs) < maxIDsPerRollup {
			w.AlertIDs = append(w.AlertIDs, a.ID)
		}
		changed = true
	}
	if changed {
		if err := r.save(); err != nil {
			return nil, err
		}
	}
	return send, nil
}

// Due closes the windows that ended by now and returns a roll-up alert for
// each that held hits back. The caller spools them and then calls Commit,
// so that a crash in between sends them again instead of losing them.
func (r *Roller) Due(now time.Time) (rollups []detect.Alert, keys []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, w := range r.windows {
		if now.Before(w.End) {
			continue
		}
		keys = append(keys, key)
		if w.Count > 0 {
			rollups = append(rollups, r.rollupOf(w))
		}
	}
	sort.Strings(keys)
	return rollups, keys
}

// Commit removes the windows that Due returned, once their roll-ups are
// safe in the spool.
func (r *Roller) Commit(keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		delete(r.windows, k)
	}
	return r.save()
}

// Open returns the number of open windows.
func (r *Roller) Open() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.windows)
}

func (r *Roller) rollupOf(w *Window) detect.Alert {
	a := w.First
	a.Timestamp = w.LastSeen
	end := w.End.UTC().Format(detect.TimeLayout)
	sum := sha256.Sum256([]byte("rollup\x00" + w.First.ID + "\x00" + end))
	a.ID = hex.EncodeToString(sum[:16])
	a.Rollup = &detect.Rollup{
		Count:       w.Count,
		FirstSeen:   w.FirstSeen,
		LastSeen:    w.LastSeen,
		WindowStart: w.Start.UTC().Format(detect.TimeLayout),
		WindowEnd:   end,
		By:          r.by,
		AlertIDs:    w.AlertIDs,
	}
	return a
}

// keyOf is the rule id and the values of the Suppress_By columns.
func (r *Roller) keyOf(a *detect.Alert) string {
	var b strings.Builder
	b.WriteString(a.Rule.ID)
	for _, col := range r.by {
		b.WriteByte(0)
		b.WriteString(a.Event.Get(col))
	}
	return b.String()
}

// save writes the windows to the store.
func (r *Roller) save() error {
	windows := make([]*Window, 0, len(r.windows))
	for _, w := range r.windows {
		windows = append(windows, w)
	}
	sort.Slice(windows, func(i, j int) bool { return windows[i].Key < windows[j].Key })
	data, err := jsoniter.Marshal(windows)
	if err != nil {
		return err
	}
	return r.store.SaveState(stateName, data)
}

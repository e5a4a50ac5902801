package pipeline

import (
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Reasons a record is skipped, used as counter names and in log lines.
const (
	skipNotCEF        = "not_cef"
	skipShortHeader   = "cef_header_truncated"
	skipVersion       = "cef_version_unsupported"
	skipNoMessage     = "no_message"
	skipBadEntry      = "malformed_entry"
	skipChunkTruncate = "chunk_truncated"
	skipPanic         = "internal_error"
)

var skipReasons = []string{skipNotCEF, skipShortHeader, skipVersion, skipNoMessage, skipBadEntry, skipChunkTruncate, skipPanic}

// skipLog counts skipped records per reason and logs them at most once per
// interval and reason, so that a feed of bad lines cannot flood the agent's
// log. The first skip of each reason is logged at once. Callers pass the
// time, so that a flush reads the clock once and not once per bad record.
type skipLog struct {
	log      *slog.Logger
	interval time.Duration

	// kinds holds the state of each kind of line: the skip reasons and the
	// spool-full warning. The map is never written after newSkipLog, so a
	// flood of bad records reads it without a lock.
	kinds map[string]*skipKind

	mu sync.Mutex // serialises the decisions to log a line
}

// skipKind is the state of one kind of line.
type skipKind struct {
	count atomic.Int64 // records skipped, for skip reasons
	// quietUntil is the Unix time in nanoseconds before which lines are
	// suppressed without taking the mutex.
	quietUntil atomic.Int64
	suppressed atomic.Int64 // lines not logged since the last one
	last       time.Time    // when the last line was logged, under skipLog.mu
}

// spoolFullKind is the kind of the spool-full warning.
const spoolFullKind = "spool full"

func newSkipLog(log *slog.Logger, interval time.Duration) *skipLog {
	s := &skipLog{log: log, interval: interval, kinds: map[string]*skipKind{}}
	for _, kind := range append(skipReasons, spoolFullKind) {
		s.kinds[kind] = new(skipKind)
	}
	return s
}

// record counts one skipped record and logs it unless the reason was logged
// less than an interval before now. index is the entry's position in its
// chunk, or -1 when the skip concerns the chunk itself.
func (s *skipLog) record(now time.Time, reason, tag string, index int, detail string, excerpt []byte) {
	s.kinds[reason].count.Add(1)
	ok, suppressed := s.allow(reason, now)
	if !ok {
		return
	}

	attrs := []any{"tag", tag, "record", index, "reason", reason, "detail", detail}
	if len(excerpt) > 0 {
		attrs = append(attrs, "excerpt", excerptOf(excerpt))
	}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed_since_last_line", suppressed)
	}
	s.log.Warn("record skipped", attrs...)
}

// warn logs message at most once per interval for each kind, with the
// number of occurrences in between.
func (s *skipLog) warn(now time.Time, kind, tag, message string) {
	ok, suppressed := s.allow(kind, now)
	if !ok {
		return
	}
	attrs := []any{"tag", tag}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed_since_last_line", suppressed)
	}
	s.log.Warn(message, attrs...)
}

// allow reports whether a line of the given kind, one of skipReasons or
// spoolFullKind, may be logged at now, and how many were suppressed since
// the last one.
func (s *skipLog) allow(kind string, now time.Time) (bool, int64) {
	k := s.kinds[kind]
	if now.UnixNano() < k.quietUntil.Load() {
		k.suppressed.Add(1)
		return false, 0
	}

	// Two workers can pass the check above at once: the mutex lets one log.
	s.mu.Lock()
	defer s.mu.Unlock()
	if !k.last.IsZero() && now.Sub(k.last) < s.interval {
		k.suppressed.Add(1)
		return false, 0
	}
	k.last = now
	k.quietUntil.Store(now.Add(s.interval).UnixNano())
	return true, k.suppressed.Swap(0)
}

// totals returns the count of each reason that occurred.
func (s *skipLog) totals() map[string]int64 {
	out := map[string]int64{}
	for _, r := range skipReasons {
		if n := s.kinds[r].count.Load(); n > 0 {
			out[r] = n
		}
	}
	return out
}

// maxExcerpt is how much of a skipped line a log line shows: enough to
// recognise the source, short enough to keep the log readable.
const maxExcerpt = 80

func excerptOf(b []byte) string {
	if len(b) > maxExcerpt {
		return string(b[:maxExcerpt]) + "..."
	}
	return string(b)
}

// FormatCounts writes counts by reason for a log line, sorted by reason:
// "malformed_entry:2,not_cef:1", or "none".
func FormatCounts(counts map[string]int64) string {
	if len(counts) == 0 {
		return "none"
	}
	reasons := make([]string, 0, len(counts))
	for r := range counts {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = r + ":" + strconv.FormatInt(counts[r], 10)
	}
	return strings.Join(parts, ",")
}

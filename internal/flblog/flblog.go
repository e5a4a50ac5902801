// Package flblog is a log/slog handler that writes lines in Fluent Bit's
// own log format, so that the plugin's lines sit among the agent's lines and
// the same tools read both:
//
//	[2026/12/04 20:34:43.592] [ info] [output:runningrat:runningrat.0] started sink=stdout path=""
//
// The header follows Fluent Bit v5.1.1 (src/flb_log.c): local time with
// milliseconds, the level right-aligned in five columns, then the scope of
// the component. Attributes follow the message as key=value pairs.
package flblog

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Handler writes one line per record. It is safe for concurrent use, and
// each line reaches the writer in one Write call.
type Handler struct {
	out   *output
	level slog.Leveler
	scope string

	// prefix contains the attributes added by WithAttrs, already formatted
	// with a leading space each.
	prefix []byte
	// group is the dotted group path that WithGroup opened, ending in '.'.
	group string
}

// output is the writer shared by a handler and the handlers derived from it.
type output struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// New returns a handler that writes to w the records at level or above,
// under scope (such as "output:runningrat:runningrat.0").
func New(w io.Writer, scope string, level slog.Leveler) *Handler {
	if level == nil {
		level = slog.LevelInfo
	}
	return &Handler{out: &output{w: w, now: time.Now}, level: level, scope: scope}
}

// Enabled reports whether level passes the handler's level.
func (h *Handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

// WithAttrs returns a handler that adds attrs to every line.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	h2.prefix = append([]byte(nil), h.prefix...)
	for _, a := range attrs {
		h2.prefix = appendAttr(h2.prefix, h.group, a)
	}
	return &h2
}

// WithGroup returns a handler that writes later attributes as
// "name.key=value".
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.group = h.group + name + "."
	return &h2
}

// Handle formats r and writes it as one line. Fluent Bit stamps its lines
// when it writes them, so a record without a time gets the current one.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	at := r.Time
	if at.IsZero() {
		at = h.out.now()
	}

	buf := make([]byte, 0, 256)
	buf = appendHeader(buf, at, r.Level, h.scope)
	buf = appendMessage(buf, r.Message)
	buf = append(buf, h.prefix...)
	r.Attrs(func(a slog.Attr) bool {
		buf = appendAttr(buf, h.group, a)
		return true
	})
	buf = append(buf, '\n')

	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	_, err := h.out.w.Write(buf)
	return err
}

// LevelName returns Fluent Bit's name for level: error, warn, info or
// debug. Levels between two names take the lower one, so slog.LevelWarn+2
// is "warn".
func LevelName(level slog.Level) string {
	switch {
	case level >= slog.LevelError:
		return "error"
	case level >= slog.LevelWarn:
		return "warn"
	case level >= slog.LevelInfo:
		return "info"
	}
	return "debug"
}

// appendHeader appends "[2026/12/04 20:34:43.592] [ info] [scope] ".
func appendHeader(buf []byte, at time.Time, level slog.Level, scope string) []byte {
	at = at.Local()
	buf = append(buf, '[')
	buf = at.AppendFormat(buf, "2006/01/02 15:04:05.000")
	buf = append(buf, "] ["...)

	name := LevelName(level)
	for range 5 - len(name) {
		buf = append(buf, ' ')
	}
	buf = append(buf, name...)
	buf = append(buf, "] ["...)
	buf = append(buf, scope...)
	return append(buf, "] "...)
}

// appendMessage appends the message as it is, unless it contains a control
// character or invalid UTF-8: then it is quoted, so that one record can
// never write a second, forged line.
func appendMessage(buf []byte, message string) []byte {
	if isPlain(message, false) {
		return append(buf, message...)
	}
	return strconv.AppendQuote(buf, message)
}

// appendAttr appends " key=value". Groups are flattened into dotted keys
// and empty attributes are left out, as slog's handlers do.
func appendAttr(buf []byte, group string, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return buf
	}
	if a.Value.Kind() == slog.KindGroup {
		attrs := a.Value.Group()
		if len(attrs) == 0 {
			return buf
		}
		if a.Key != "" {
			group += a.Key + "."
		}
		for _, ga := range attrs {
			buf = appendAttr(buf, group, ga)
		}
		return buf
	}

	buf = append(buf, ' ')
	buf = appendText(buf, group+a.Key)
	buf = append(buf, '=')
	return appendValue(buf, a.Value)
}

func appendValue(buf []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendText(buf, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(buf, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(buf, v.Uint64(), 10)
	case slog.KindFloat64:
		return strconv.AppendFloat(buf, v.Float64(), 'g', -1, 64)
	case slog.KindBool:
		return strconv.AppendBool(buf, v.Bool())
	case slog.KindDuration:
		return append(buf, v.Duration().String()...)
	case slog.KindTime:
		return v.Time().AppendFormat(buf, time.RFC3339Nano)
	}
	if err, ok := v.Any().(error); ok {
		return appendText(buf, err.Error())
	}
	return appendText(buf, v.String())
}

// appendText appends s bare when it is a non-empty run of printable
// characters without blanks, quotes or '=', and quoted with Go's escapes
// otherwise.
func appendText(buf []byte, s string) []byte {
	if s != "" && isPlain(s, true) {
		return append(buf, s...)
	}
	return strconv.AppendQuote(buf, s)
}

// isPlain reports whether s is valid UTF-8 without control characters and,
// when strict is set, without blanks, '"' and '='.
func isPlain(s string, strict bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			if strict && (c == ' ' || c == '"' || c == '=') {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		if !unicode.IsPrint(r) {
			return false
		}
		i += size
	}
	return true
}

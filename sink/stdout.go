package sink

import (
	"context"
	"io"
	"os"
	"sync"

	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
)

func init() {
	Register("stdout", format.Native, func(opts Options) (Sink, error) {
		return NewWriter(os.Stdout, opts.Format.Or(format.Native)), nil
	})
}

// Writer writes alerts as JSON lines to an io.Writer, one write per batch,
// so that lines of concurrent flushes never interleave.
type Writer struct {
	format format.Format

	mu sync.Mutex
	w  io.Writer
}

// NewWriter returns a sink that writes to w in shape f.
func NewWriter(w io.Writer, f format.Format) *Writer {
	return &Writer{w: w, format: f}
}

// Send writes the batch.
func (s *Writer) Send(_ context.Context, alerts []detect.Alert) error {
	buf, err := AppendLines(nil, s.format, alerts)
	if err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	_, err = s.w.Write(buf)
	return err
}

// Close does nothing: the writer belongs to the caller.
func (s *Writer) Close(context.Context) error {
	return nil
}

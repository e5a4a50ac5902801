package sink

import (
	"context"
	"io"
	"os"
	"sync"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
)

func init() {
	Register("stdout", func(config.Getter) (Sink, error) {
		return NewWriter(os.Stdout), nil
	})
}

// Writer writes alerts as JSON lines to an io.Writer, one write per batch,
// so that lines of concurrent flushes never interleave.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriter returns a sink that writes to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w}
}

// Send writes the batch.
func (s *Writer) Send(_ context.Context, alerts []detect.Alert) error {
	buf, err := AppendLines(nil, alerts)
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

package sink

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
)

func init() {
	Register("file", format.Native, func(opts Options) (Sink, error) {
		path := config.String(opts.Config, "Path", "")
		if path == "" {
			return nil, errors.New("Sink file needs Path, the file that receives the alerts")
		}
		return OpenFile(path, opts.Format.Or(format.Native))
	})
}

// File appends alerts as JSON lines to a file. Each batch is one write
// followed by fsync, so a batch that Send reported as sent survives a crash.
// When the file is moved or removed, as log rotation does, the next Send
// creates it again at its path.
type File struct {
	path   string
	format format.Format

	mu sync.Mutex
	f  *os.File
}

// OpenFile opens path for appending, creating it with mode 0600 and its
// folder with mode 0700 when they are missing: alerts name hosts and users.
func OpenFile(path string, f format.Format) (*File, error) {
	s := &File{path: path, format: f}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *File) open() error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("create alert folder: %w", err)
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open alert file: %w", err)
	}
	s.f = f
	return nil
}

// Send appends the batch and syncs it to disk.
func (s *File) Send(_ context.Context, alerts []detect.Alert) error {
	buf, err := AppendLines(nil, s.format, alerts)
	if err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.reopenIfMoved(); err != nil {
		return err
	}
	if _, err := s.f.Write(buf); err != nil {
		return fmt.Errorf("write %d alerts to %s: %w", len(alerts), s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", s.path, err)
	}
	return nil
}

// reopenIfMoved reopens the path when it no longer names the open file.
func (s *File) reopenIfMoved() error {
	if s.f != nil {
		open, err1 := s.f.Stat()
		current, err2 := os.Stat(s.path)
		if err1 == nil && err2 == nil && os.SameFile(open, current) {
			return nil
		}
		s.f.Close()
		s.f = nil
	}
	return s.open()
}

// Close closes the file.
func (s *File) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// Package sink delivers alerts to where a security team reads them. A Sink
// is chosen by name in the plugin's configuration. Each kind registers a
// factory here, so adding a sink changes neither detection nor the plugin
// shim.
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
)

// Sink delivers alerts.
type Sink interface {
	// Send delivers one batch. It returns nil once every alert in it is
	// stored at the destination (written and synced, or acknowledged).
	//
	// A *BatchError lists the alerts that failed, each as transient (send
	// again later) or permanent (the destination rejects it for good). The
	// alerts it does not list were delivered. Any other error means that
	// none of the batch counts as delivered and all of it is sent again.
	// A sink must tolerate redelivery: every copy carries the same alert
	// id, which the sink passes on so that the destination can drop
	// duplicates.
	//
	// Send must not keep alerts after it returns, and must return when ctx
	// is done. It is safe for concurrent use.
	Send(ctx context.Context, alerts []detect.Alert) error
	// Close releases the sink's resources. Send is not called after Close.
	Close(ctx context.Context) error
}

// ItemError is the failure of one alert of a batch.
type ItemError struct {
	Index     int  // position of the alert in the batch passed to Send
	Permanent bool // the destination will never accept this alert as sent
	Reason    string
}

// BatchError reports the alerts of a batch that were not delivered. The
// alerts it does not list were delivered.
type BatchError struct {
	Items []ItemError
}

func (e *BatchError) Error() string {
	permanent := 0
	for _, it := range e.Items {
		if it.Permanent {
			permanent++
		}
	}
	first := ""
	if len(e.Items) > 0 {
		first = ": " + e.Items[0].Reason
	}
	return fmt.Sprintf("%d alerts not delivered (%d rejected for good)%s", len(e.Items), permanent, first)
}

// AsBatchError returns err as a *BatchError, or nil.
func AsBatchError(err error) *BatchError {
	var be *BatchError
	if errors.As(err, &be) {
		return be
	}
	return nil
}

// Options are the inputs of a sink factory besides the configuration.
type Options struct {
	Config config.Getter
	Log    *slog.Logger
	// Format is the shape of each alert, already checked by the caller;
	// format.Default means the sink's own native shape.
	Format format.Format
}

// Factory builds a sink.
type Factory func(opts Options) (Sink, error)

// kind is a registered sink kind.
type kind struct {
	factory       Factory
	defaultFormat format.Format
}

var (
	mu    sync.RWMutex
	kinds = map[string]kind{}
)

// Register makes a sink kind available under name (case-insensitive).
// defaultFormat is the alert shape that New passes to f when the caller
// gives none.
func Register(name string, defaultFormat format.Format, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	kinds[strings.ToLower(name)] = kind{factory: f, defaultFormat: defaultFormat}
}

// DefaultFormat returns the alert shape that the sink kind name uses when
// Alert_Format is not set, or format.Native for an unknown name.
func DefaultFormat(name string) format.Format {
	mu.RLock()
	defer mu.RUnlock()
	if k, ok := kinds[strings.ToLower(name)]; ok {
		return k.defaultFormat
	}
	return format.Native
}

// New builds the sink that name selects.
func New(name string, opts Options) (Sink, error) {
	mu.RLock()
	k, ok := kinds[strings.ToLower(name)]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("invalid Sink %q: use one of %s", name, strings.Join(Names(), ", "))
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	opts.Format = opts.Format.Or(k.defaultFormat)
	return k.factory(opts)
}

// Names returns the registered sink kinds in order.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(kinds))
	for n := range kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// AppendLines appends each alert as one line of JSON in the given shape
// (format.Default is the native shape).
func AppendLines(dst []byte, f format.Format, alerts []detect.Alert) ([]byte, error) {
	for i := range alerts {
		var err error
		dst, err = format.AppendJSON(dst, f, &alerts[i])
		if err != nil {
			return dst, fmt.Errorf("encode alert %s: %w", alerts[i].ID, err)
		}
		dst = append(dst, '\n')
	}
	return dst, nil
}

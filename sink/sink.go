// Package sink delivers alerts to where a security team reads them. A Sink
// is chosen by name in the plugin's configuration. Each kind registers a
// factory here, so adding a sink changes neither detection nor the plugin
// shim.
package sink

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
)

// Sink delivers alerts.
type Sink interface {
	// Send delivers one batch and returns nil only once every alert in it is
	// stored at the destination (written and synced, or acknowledged). On
	// error the caller sends the whole batch again later, so a sink must
	// tolerate duplicates, which carry the same alert id. Send must not keep
	// alerts after it returns. It is safe for concurrent use.
	Send(ctx context.Context, alerts []detect.Alert) error
	// Close releases the sink's resources. Send is not called after Close.
	Close(ctx context.Context) error
}

// Factory builds a sink from the plugin's configuration.
type Factory func(cfg config.Getter) (Sink, error)

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes a sink kind available under name (case-insensitive).
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	factories[strings.ToLower(name)] = f
}

// New builds the sink that name selects.
func New(name string, cfg config.Getter) (Sink, error) {
	mu.RLock()
	f, ok := factories[strings.ToLower(name)]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown sink %q: use one of %s", name, strings.Join(Names(), ", "))
	}
	return f(cfg)
}

// Names returns the registered sink kinds in order.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(factories))
	for n := range factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// AppendLines appends each alert as a line of native JSON.
func AppendLines(dst []byte, alerts []detect.Alert) ([]byte, error) {
	for i := range alerts {
		var err error
		dst, err = alerts[i].AppendJSON(dst)
		if err != nil {
			return dst, fmt.Errorf("encode alert %s: %w", alerts[i].ID, err)
		}
		dst = append(dst, '\n')
	}
	return dst, nil
}

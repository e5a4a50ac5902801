// Package metrics serves the counters of the plugin's output instances for
// Prometheus. Fluent Bit can run several instances in one process and, on a
// hot reload, stops them and starts new ones while the Go runtime lives on.
// So one HTTP listener serves every instance that names its address, each
// instance's series carry an "instance" label, and the listener closes when
// its last instance leaves.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is the URL path that serves the metrics.
const Path = "/metrics"

// shutdownTimeout bounds how long closing a listener waits for scrapes in
// progress.
const shutdownTimeout = 2 * time.Second

// Counters are one instance's counters since it started.
type Counters struct {
	Records        int64
	Skipped        map[string]int64 // by reason; reasons that never occurred may be missing
	ExactAlerts    int64
	ExtendedAlerts int64
	Delivered      int64
	FailedBatches  int64
	DeadLettered   int64
	SpoolDepth     int // alerts in the spool, not yet delivered
	SpoolFull      int64
	FlushPanics    int64
}

// Source returns an instance's current counters. It is called on every
// scrape and must be safe for concurrent use. A scrape in progress may
// still call it once after its instance was removed.
type Source func() Counters

var (
	mu      sync.Mutex
	servers = map[string]*server{} // by the address as configured
)

// server is one listener and the instances it serves.
type server struct {
	address   string
	listener  net.Listener
	http      *http.Server
	collector *collector
	log       *slog.Logger
}

// Register adds an instance's counters to the listener at address, which
// is started when no instance uses that address yet. Addresses are compared
// as written, so "127.0.0.1:2021" and "localhost:2021" are two listeners
// (and the second fails to bind). The returned function removes the
// instance, and closes the listener when it was the last one.
func Register(address, instance string, source Source, log *slog.Logger) (unregister func(), err error) {
	mu.Lock()
	defer mu.Unlock()

	s := servers[address]
	if s == nil {
		s, err = start(address, log)
		if err != nil {
			return nil, err
		}
		servers[address] = s
	}
	if err := s.collector.add(instance, source); err != nil {
		if s.collector.empty() {
			s.close()
			delete(servers, address)
		}
		return nil, err
	}

	var once sync.Once
	return func() { once.Do(func() { s.remove(instance) }) }, nil
}

// ListenAddress returns the address that the listener configured as
// address is bound to, which tells the port when address ends in ":0". It
// returns "" when no instance uses address.
func ListenAddress(address string) string {
	mu.Lock()
	defer mu.Unlock()
	if s := servers[address]; s != nil {
		return s.listener.Addr().String()
	}
	return ""
}

func start(address string, log *slog.Logger) (*server, error) {
	listener, err := net.Listen("tcp", address)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on Metrics_Listen %q: %w", address, err)
	}

	c := &collector{sources: map[string]Source{}}
	registry := prometheus.NewRegistry()
	registry.MustRegister(c)

	mux := http.NewServeMux()
	mux.Handle(Path, promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	s := &server{
		address:   address,
		listener:  listener,
		collector: c,
		log:       log,
		http:      &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
	}
	go func() {
		if err := s.http.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("the metrics listener stopped", "address", listener.Addr().String(), "error", err)
		}
	}()
	log.Info("serving metrics", "metrics_listen", address, "url", "http://"+listener.Addr().String()+Path)
	return s, nil
}

func (s *server) remove(instance string) {
	mu.Lock()
	defer mu.Unlock()

	s.collector.remove(instance)
	if !s.collector.empty() {
		return
	}
	s.close()
	if servers[s.address] == s {
		delete(servers, s.address)
	}
}

func (s *server) close() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		s.log.Warn("closing the metrics listener failed", "address", s.address, "error", err)
		return
	}
	s.log.Info("stopped serving metrics", "metrics_listen", s.address)
}

// Metric descriptions. Every series carries the instance label.
var (
	descRecords = prometheus.NewDesc("runningrat_records_total",
		"Records read from flushed chunks.", []string{"instance"}, nil)
	descSkipped = prometheus.NewDesc("runningrat_records_skipped_total",
		"Records or lines skipped, by reason.", []string{"instance", "reason"}, nil)
	descAlerts = prometheus.NewDesc("runningrat_alerts_total",
		"Alerts raised and spooled, by verdict (exact or extended).", []string{"instance", "verdict"}, nil)
	descDelivered = prometheus.NewDesc("runningrat_alerts_delivered_total",
		"Alerts that the sink accepted.", []string{"instance"}, nil)
	descFailedBatches = prometheus.NewDesc("runningrat_delivery_failed_batches_total",
		"Delivery attempts that failed and will be retried.", []string{"instance"}, nil)
	descDeadLettered = prometheus.NewDesc("runningrat_alerts_dead_lettered_total",
		"Alerts that the sink rejected for good, written to the dead-letter file.", []string{"instance"}, nil)
	descSpoolDepth = prometheus.NewDesc("runningrat_spool_alerts",
		"Alerts waiting in the spool for delivery.", []string{"instance"}, nil)
	descSpoolFull = prometheus.NewDesc("runningrat_spool_full_retries_total",
		"Flushes answered with FLB_RETRY because the spool was full.", []string{"instance"}, nil)
	descFlushPanics = prometheus.NewDesc("runningrat_flush_panics_total",
		"Flushes that panicked and returned FLB_ERROR.", []string{"instance"}, nil)
)

// collector reads the registered sources on each scrape, so nothing is
// registered with Prometheus per instance and a reload cannot register a
// series twice.
type collector struct {
	mu      sync.Mutex
	sources map[string]Source
}

func (c *collector) add(instance string, source Source) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.sources[instance]; ok {
		return fmt.Errorf("metrics of instance %s are already served", instance)
	}
	c.sources[instance] = source
	return nil
}

func (c *collector) remove(instance string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.sources, instance)
}

func (c *collector) empty() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sources) == 0
}

// Describe sends the descriptions of every metric.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecords, descSkipped, descAlerts, descDelivered,
		descFailedBatches, descDeadLettered, descSpoolDepth, descSpoolFull, descFlushPanics} {
		ch <- d
	}
}

// Collect sends the current counters of every instance.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	sources := make(map[string]Source, len(c.sources))
	for k, v := range c.sources {
		sources[k] = v
	}
	c.mu.Unlock()

	for instance, source := range sources {
		s := source()
		counter := func(d *prometheus.Desc, v int64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{instance}, labels...)...)
		}

		counter(descRecords, s.Records)
		reasons := make([]string, 0, len(s.Skipped))
		for reason := range s.Skipped {
			reasons = append(reasons, reason)
		}
		sort.Strings(reasons)
		for _, reason := range reasons {
			counter(descSkipped, s.Skipped[reason], reason)
		}
		counter(descAlerts, s.ExactAlerts, "exact")
		counter(descAlerts, s.ExtendedAlerts, "extended")
		counter(descDelivered, s.Delivered)
		counter(descFailedBatches, s.FailedBatches)
		counter(descDeadLettered, s.DeadLettered)
		ch <- prometheus.MustNewConstMetric(descSpoolDepth, prometheus.GaugeValue, float64(s.SpoolDepth), instance)
		counter(descSpoolFull, s.SpoolFull)
		counter(descFlushPanics, s.FlushPanics)
	}
}

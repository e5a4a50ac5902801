// Package splunk is the sink that sends alerts to a Splunk HTTP Event
// Collector (HEC) on its JSON event endpoint, /services/collector/event.
//
// Each alert becomes one event envelope whose indexed fields carry the
// alert id, so that a search can drop the copies a resend creates. The
// events of a batch go as concatenated envelopes in one request. HEC
// processes a batch in order and stops at the first event it cannot take,
// and its invalid-event-number names that event. The sink reports the
// alerts before it as delivered, the one HEC blames as rejected for good,
// and the rest as to be sent again. With Splunk_Ack on, an alert counts as delivered
// only once HEC's indexer acknowledgement says it is indexed.
//
// Only HEC itself can reject an alert for good, by blaming its data (codes
// 5, 6, 12, 13, 15) or by responding 413 to it alone. Every other failure,
// including a wrong token, a wrong index, a missing endpoint (404) or a
// response that is not HEC's, is transient, because fixing the
// configuration must not lose alerts. Failures that need a person to act
// are logged as errors.
package splunk

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
	"github.com/edgehunt/runningrat/sink"
)

func init() {
	sink.Register("splunk", format.Splunk, func(opts sink.Options) (sink.Sink, error) {
		return New(opts)
	})
}

// Sink sends alerts to Splunk HEC. It is safe for concurrent use.
type Sink struct {
	cfg    settings
	log    *slog.Logger
	client *http.Client
	enc    encoder
	// authorization is the value of the Authorization header. It holds
	// the token, so it goes into requests only.
	authorization string

	// ackChecked is set once HEC has shown that the token has indexer
	// acknowledgement on; ackMu serializes the check.
	ackChecked atomic.Bool
	ackMu      sync.Mutex
}

// New builds the sink from the Splunk_* and Sink_* keys of opts.Config.
// The alerts take the shape opts.Format, by default format.Splunk.
func New(opts sink.Options) (*Sink, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := loadSettings(opts.Config, log)
	if err != nil {
		return nil, err
	}

	// Each request's context carries Sink_Timeout, which bounds the dial,
	// the TLS handshake and the wait for the response together. The
	// transport sets no timeouts of its own that would race with it.
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     cfg.tls,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 4,
	}
	client := &http.Client{
		Transport: transport,
		// A redirect is reported as an unexpected response, because
		// following it would send the token to wherever it points.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	shape := opts.Format.Or(format.Splunk)
	s := &Sink{
		cfg:           cfg,
		log:           log.With("sink", "splunk"),
		client:        client,
		enc:           newEncoder(&cfg, shape),
		authorization: "Splunk " + cfg.token,
	}
	s.log.Info("Splunk HEC sink configured",
		"url", cfg.shownURL, "index", cfg.index, "source", cfg.source, "sourcetype", cfg.sourcetype,
		"batch_size", cfg.batchSize, "ack", cfg.ack, "channel", cfg.channel, "tls", cfg.tls != nil,
		"format", string(shape))
	return s, nil
}

// Send delivers the alerts in one attempt, in requests of at most
// Splunk_Batch_Size events. After a failure of a whole request (HEC
// unreachable, busy, rejecting the token) the rest of the batch is not
// tried and is reported as transient. See sink.Sink for the result.
func (s *Sink) Send(ctx context.Context, alerts []detect.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	at := newAttempt(len(alerts))
	events, ready := s.encodeAll(alerts, at)

	if s.cfg.ack && len(ready) > 0 {
		if err := s.checkAck(ctx); err != nil {
			at.stop(ready, err)
			return at.result()
		}
	}

	for start := 0; start < len(ready); start += s.cfg.batchSize {
		end := min(start+s.cfg.batchSize, len(ready))
		if err := s.sendRequest(ctx, at, alerts, events, ready[start:end]); err != nil {
			at.stop(ready[end:], err)
			break
		}
	}

	if len(at.pending) > 0 {
		s.awaitAcks(ctx, at)
	}
	return at.result()
}

// encodeAll encodes every alert and returns the envelopes with the indexes
// of those that encoded. An alert that cannot be encoded is rejected for
// good: encoding it again gives the same error.
func (s *Sink) encodeAll(alerts []detect.Alert, at *attempt) ([][]byte, []int) {
	events := make([][]byte, len(alerts))
	ready := make([]int, 0, len(alerts))
	for i := range alerts {
		ev, err := s.enc.appendEvent(nil, &alerts[i])
		if err != nil {
			s.log.Error("alert cannot be encoded and is rejected", "alert_id", alerts[i].ID, "error", err)
			at.mark([]int{i}, permanent, err.Error())
			continue
		}
		events[i] = ev
		ready = append(ready, i)
	}
	return events, ready
}

// Close releases idle connections.
func (s *Sink) Close(context.Context) error {
	s.client.CloseIdleConnections()
	return nil
}

// Package elasticsearch is the sink that sends alerts to Elasticsearch 7, 8
// or 9, or to OpenSearch 2, through the _bulk API over plain net/http. The
// official Go client is not used because it refuses servers that do not
// identify as Elasticsearch, which OpenSearch does not.
//
// Each alert becomes a "create" action whose _id is the alert id. A resent
// alert then gets status 409 and counts as delivered instead of being
// stored twice. That holds within one index: after a rollover of a data
// stream, the new backing index does not know the old _ids.
package elasticsearch

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
	"github.com/edgehunt/runningrat/sink"
)

func init() {
	sink.Register("elasticsearch", format.ECS, func(opts sink.Options) (sink.Sink, error) {
		cfg, err := LoadConfig(opts.Config, opts.Log)
		if err != nil {
			return nil, err
		}
		return New(cfg, opts.Format.Or(format.ECS), opts.Log), nil
	})
}

var _ sink.Sink = (*Sink)(nil)

// Sink sends alerts to an Elasticsearch or OpenSearch cluster. It is safe
// for concurrent use.
type Sink struct {
	cfg       Config
	format    format.Format
	log       *slog.Logger
	client    *http.Client
	transport *http.Transport

	endpoints    []string // the _bulk URL of each node, with the pipeline query
	nodeNames    []string // each node's URL, for logs and errors
	auth         string   // Authorization header value, or ""
	secrets      []string // values to scrub from any text built from a response
	actionPrefix []byte

	// current is the node that responded last, where requests start.
	current atomic.Int32
}

// New returns a sink for cfg that sends alerts in shape f. It makes no
// request: an unreachable cluster shows up in Send, so that the plugin
// starts and spools alerts while the cluster is down.
func New(cfg Config, f format.Format, log *slog.Logger) *Sink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSClientConfig:     cfg.TLS,
		TLSHandshakeTimeout: cfg.Timeout,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	s := &Sink{
		cfg:       cfg,
		format:    f,
		log:       log.With("sink", "elasticsearch"),
		transport: transport,
		client: &http.Client{
			Transport: transport,
			// A redirect would send the alerts and credentials elsewhere;
			// the 3xx response is reported instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		actionPrefix: actionPrefix(cfg.Index),
	}

	query := ""
	if cfg.Pipeline != "" {
		query = "?pipeline=" + url.QueryEscape(cfg.Pipeline)
	}
	for _, u := range cfg.URLs {
		s.endpoints = append(s.endpoints, u.String()+"/_bulk"+query)
		s.nodeNames = append(s.nodeNames, u.String())
	}

	switch {
	case cfg.APIKey != "":
		s.auth = "ApiKey " + cfg.APIKey
		s.secrets = []string{cfg.APIKey}
	case cfg.Username != "":
		basic := base64.StdEncoding.EncodeToString([]byte(cfg.Username + ":" + cfg.Password))
		s.auth = "Basic " + basic
		s.secrets = []string{cfg.Password, basic}
	}

	s.log.Info("Elasticsearch sink ready", "nodes", cfg.nodeList(), "index", cfg.Index,
		"pipeline", cfg.Pipeline, "auth", cfg.authKind(), "format", string(f),
		"batch_size", cfg.BatchSize, "max_request_bytes", cfg.MaxRequestSize,
		"timeout", cfg.Timeout, "tls", cfg.TLS != nil)
	return s
}

// Send makes one delivery attempt of the batch: one _bulk request per
// ES_Batch_Size documents or ES_Max_Request_Size bytes, in order. A 413
// response splits a request in halves within the attempt. After a request
// fails as a whole for a reason that would fail the next one too (node
// down, 429, 5xx, 401, 403, 404), the rest of the batch is reported
// transient without being sent.
//
// It returns nil when every alert is stored or already was (409). It returns
// an error that is not a *sink.BatchError when no alert was stored and all
// may be sent again. Otherwise it returns a *sink.BatchError listing the
// alerts that failed.
func (s *Sink) Send(ctx context.Context, alerts []detect.Alert) error {
	if len(alerts) == 0 {
		return nil
	}

	docs, failures := s.encode(alerts)
	var stop error
	for _, chunk := range s.split(docs) {
		if stop != nil {
			failures = append(failures, markAll(chunk, transient, "not sent because an earlier request of the batch failed: "+stop.Error())...)
			continue
		}
		f, err := s.sendChunk(ctx, chunk)
		failures = append(failures, f...)
		stop = err
	}
	return s.result(len(alerts), failures, stop)
}

// result turns the failures of a batch of n alerts into Send's return value.
func (s *Sink) result(n int, failures []sink.ItemError, stop error) error {
	if len(failures) == 0 {
		return nil
	}
	slices.SortFunc(failures, func(a, b sink.ItemError) int { return a.Index - b.Index })

	allTransient := len(failures) == n
	for _, f := range failures {
		allTransient = allTransient && !f.Permanent
	}
	if allTransient {
		if stop != nil {
			return stop
		}
		return fmt.Errorf("Elasticsearch stored none of the %d alerts: %s", n, failures[0].Reason)
	}
	return &sink.BatchError{Items: failures}
}

// sendChunk sends one request and returns the failed alerts. A non-nil
// error means the request failed as a whole in a way that would fail the
// next request too.
func (s *Sink) sendChunk(ctx context.Context, docs []document) ([]sink.ItemError, error) {
	res, err := s.post(ctx, body(docs))
	if err != nil {
		return markAll(docs, transient, err.Error()), err
	}

	switch {
	case res.status >= 200 && res.status < 300:
		outcomes, err := parseBulk(res.body, docs)
		if err != nil {
			err = fmt.Errorf("%s: %s", res.node, s.scrub(err.Error()))
			s.log.Error("invalid bulk response from Elasticsearch, so the alerts will be sent again", "node", res.node, "err", err)
			return markAll(docs, transient, err.Error()), err
		}
		return s.itemFailures(res.node, docs, outcomes), nil

	case res.status == http.StatusRequestEntityTooLarge:
		return s.splitTooLarge(ctx, docs, res)
	}

	reason := s.scrub(describeResponse(res))
	v := s.requestVerdict(res, reason)
	failures := markAll(docs, v, reason)
	if v == transient {
		return failures, errors.New(reason)
	}
	return failures, nil
}

// requestVerdict decides the verdict that a failed response gives all its
// alerts, and logs it.
func (s *Sink) requestVerdict(res response, reason string) verdict {
	switch {
	case res.status == http.StatusUnauthorized:
		s.log.Error("Elasticsearch rejected the credentials, so alerts wait in the spool until ES_Username/ES_Password or ES_API_Key is fixed",
			"node", res.node, "status", res.status, "reason", reason)
		return transient
	case res.status == http.StatusForbidden:
		s.log.Error("Elasticsearch denied writing alerts: grant the user create_doc on the index, or lift the index's write block",
			"node", res.node, "index", s.cfg.Index, "status", res.status, "reason", reason)
		return transient
	case res.status == http.StatusNotFound:
		s.log.Error("Elasticsearch returned 404 for _bulk: create the index or data stream, allow its automatic creation, or check the path in ES_URL",
			"node", res.node, "index", s.cfg.Index, "reason", reason)
		return transient
	case res.status >= 300 && res.status < 400:
		s.log.Error("Elasticsearch returned a redirect, which the sink does not follow: set ES_URL to the final address",
			"node", res.node, "status", res.status, "location", s.scrub(res.location))
		return transient
	case retryableStatus[res.status]:
		s.log.Warn("Elasticsearch could not take the request, so the alerts will be sent again", "node", res.node, "status", res.status, "reason", reason)
		return transient
	}
	s.log.Error("Elasticsearch rejected the whole request", "node", res.node, "status", res.status, "reason", reason)
	return permanent
}

// splitTooLarge handles a 413 response: it sends each half of docs on its
// own, down to single documents. A single document rejected with 413 can
// never be stored.
func (s *Sink) splitTooLarge(ctx context.Context, docs []document, res response) ([]sink.ItemError, error) {
	if len(docs) == 1 {
		reason := fmt.Sprintf("the document is %d bytes, more than %s accepts in one request (HTTP 413)", len(docs[0].lines), res.node)
		s.log.Error("Elasticsearch rejected an alert as too large: raise http.max_content_length to store it", "node", res.node, "alert_id", docs[0].id, "bytes", len(docs[0].lines))
		return markAll(docs, permanent, reason), nil
	}

	s.log.Warn("Elasticsearch rejected a request as too large (HTTP 413), so the sink sends it in halves. Lower ES_Max_Request_Size to avoid this",
		"node", res.node, "documents", len(docs), "bytes", len(body(docs)))
	half := len(docs) / 2
	first, err := s.sendChunk(ctx, docs[:half])
	if err != nil {
		return append(first, markAll(docs[half:], transient, "not sent because an earlier request of the batch failed: "+err.Error())...), err
	}
	second, err := s.sendChunk(ctx, docs[half:])
	return append(first, second...), err
}

// itemFailures returns the failed items of a bulk response and logs them, one
// line per kind of failure.
func (s *Sink) itemFailures(node string, docs []document, outcomes []outcome) []sink.ItemError {
	type group struct {
		verdict verdict
		status  int
		typ     string
	}
	counts := map[group]int{}
	first := map[group]int{}
	var failures []sink.ItemError
	for i, o := range outcomes {
		if o.verdict == delivered {
			continue
		}
		failures = append(failures, sink.ItemError{Index: docs[i].index, Permanent: o.verdict == permanent, Reason: s.scrub(o.reason())})
		g := group{o.verdict, o.status, o.cause.Type}
		if counts[g] == 0 {
			first[g] = i
		}
		counts[g]++
	}

	for g, n := range counts {
		i := first[g]
		attrs := []any{"node", node, "alerts", n, "status", g.status, "error_type", g.typ,
			"first_alert_id", docs[i].id, "reason", s.scrub(outcomes[i].cause.String())}
		switch {
		case g.verdict == permanent:
			s.log.Error("Elasticsearch rejected alerts for good", attrs...)
		case g.status == http.StatusUnauthorized || g.status == http.StatusForbidden:
			s.log.Error("Elasticsearch denied writing alerts to the index, so they wait in the spool until the privileges or write block are fixed", attrs...)
		case g.status == http.StatusNotFound:
			s.log.Error("the index does not exist and Elasticsearch may not create it, so alerts wait in the spool until it exists", append(attrs, "index", s.cfg.Index)...)
		default:
			s.log.Warn("Elasticsearch could not store some alerts yet, so they will be sent again", attrs...)
		}
	}
	return failures
}

// markAll reports every document with the same verdict and reason.
func markAll(docs []document, v verdict, reason string) []sink.ItemError {
	out := make([]sink.ItemError, len(docs))
	for i, d := range docs {
		out[i] = sink.ItemError{Index: d.index, Permanent: v == permanent, Reason: reason}
	}
	return out
}

// scrub removes the credentials from text built from a server's response, in
// case a proxy echoes a request header back.
func (s *Sink) scrub(text string) string {
	for _, secret := range s.secrets {
		if secret != "" {
			text = strings.ReplaceAll(text, secret, "[redacted]")
		}
	}
	return text
}

// Close releases idle connections. Send is not called after Close.
func (s *Sink) Close(context.Context) error {
	s.transport.CloseIdleConnections()
	return nil
}

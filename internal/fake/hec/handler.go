package hec

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// hecJSON is the JSON body of every HEC response.
type hecJSON struct {
	Text               string `json:"text"`
	Code               int    `json:"code"`
	InvalidEventNumber *int   `json:"invalid-event-number,omitempty"`
	AckID              *int64 `json:"ackId,omitempty"`
}

// Request is the record of one request that the server handled.
type Request struct {
	Path    string
	Channel string
	Status  int
	Code    int // HEC code of the response, or -1 for a plain-text response
	Bytes   int // body size as received
	Stored  int // events stored from this request
}

// Counts are totals since the server started.
type Counts struct {
	EventRequests  int
	AckRequests    int
	HealthRequests int
	// Dropped counts requests whose connection was cut: by DropNext, by
	// Down, or while hanging.
	Dropped int
}

// channel is the ack state of one data channel. Ack ids are per channel
// and start at 0, as in HEC.
type channel struct {
	nextID  int64
	pending map[int64]time.Time // ack id → time its request was accepted
}

// guidPattern matches the channel format HEC accepts: a GUID in its
// 8-4-4-4-12 hexadecimal form.
var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, p := range []string{"/services/collector", "/services/collector/event", "/services/collector/event/1.0"} {
		mux.HandleFunc("POST "+p, s.handleEvents)
	}
	mux.HandleFunc("POST /services/collector/ack", s.handleAck)
	mux.HandleFunc("GET /services/collector/health", s.handleHealth)
	mux.HandleFunc("GET /services/collector/health/1.0", s.handleHealth)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, hecJSON{Text: "The requested URL was not found on this server.", Code: 404})
	})
	return mux
}

// handleEvents serves the JSON event endpoint.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	rec := Request{Path: r.URL.Path, Channel: channelOf(r), Code: -1}
	defer func() { s.record(rec) }()
	s.count(func(c *Counts) { c.EventRequests++ })

	body, ok := s.admit(w, r, &rec)
	if !ok {
		return
	}

	if f, ok := s.takeEventFailure(); ok {
		if f.acceptBefore < 0 {
			s.fail(w, &rec, f.status, nil)
			return
		}
		s.serveBatch(w, &rec, body, f.acceptBefore)
		return
	}
	s.serveBatch(w, &rec, body, -1)
}

// admit runs the steps every event request goes through before its events
// are read: down, delay, body size, decompression, token and channel. It
// responds and returns false when the request ends there.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, rec *Request) ([]byte, bool) {
	if !s.passDown(r) {
		s.count(func(c *Counts) { c.Dropped++ })
		panic(http.ErrAbortHandler)
	}

	s.mu.Lock()
	maxBody, delay := s.faults.maxBody, s.faults.delay
	s.mu.Unlock()

	limit := int64(64 << 20)
	if maxBody > 0 {
		limit = maxBody
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	rec.Bytes = len(body)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if delay > 0 {
		if s.wait(r, delay, false) != nil {
			s.count(func(c *Counts) { c.Dropped++ })
			panic(http.ErrAbortHandler)
		}
	}
	if int64(len(body)) > limit {
		rec.Status = http.StatusRequestEntityTooLarge
		http.Error(w, "Request Entity Too Large", http.StatusRequestEntityTooLarge)
		return nil, false
	}

	if !s.authorize(w, r, rec) {
		return nil, false
	}
	if !s.checkChannel(w, r, rec) {
		return nil, false
	}

	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, err = io.ReadAll(io.LimitReader(zr, 256<<20))
		}
		if err != nil {
			s.reply(w, rec, http.StatusBadRequest, codeInvalidFormat, nil, nil)
			return nil, false
		}
	}
	return body, true
}

// passDown waits while the server hangs. It returns false when the request
// must be dropped without a response.
func (s *Server) passDown(r *http.Request) bool {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down != Hang {
		return true
	}
	// A hung request never gets a response, even after Up: its client gave
	// up long ago, or will once the server is back.
	s.wait(r, -1, true)
	return false
}

// serveBatch stores the events of a batch and responds.
func (s *Server) serveBatch(w http.ResponseWriter, rec *Request, body []byte, busyAt int) {
	if len(bytes.TrimSpace(body)) == 0 {
		s.reply(w, rec, http.StatusBadRequest, codeNoData, nil, nil)
		return
	}

	out := s.storeBatch(rec, body, busyAt)
	if out.drop {
		panic(http.ErrAbortHandler)
	}
	s.reply(w, rec, out.status, out.code, out.invalidEvent, out.ackID)
}

// batchOutcome is the response to one batch.
type batchOutcome struct {
	status, code int
	invalidEvent *int
	ackID        *int64
	drop         bool // cut the connection instead of responding
}

// storeBatch stores the events of a batch in order. It stops at the first
// event that HEC would reject, or at busyAt when that is >= 0, after
// storing the events before it, as HEC does.
func (s *Server) storeBatch(rec *Request, body []byte, busyAt int) batchOutcome {
	s.mu.Lock()
	defer s.mu.Unlock()

	rejectAt := s.faults.rejectAt
	s.faults.rejectAt = -1
	allowed := map[string]bool{}
	for _, index := range s.opts.Indexes {
		allowed[index] = true
	}

	var accepted []Event
	out := batchOutcome{status: http.StatusOK, code: codeSuccess}
	bad, ok := splitEnvelopes(body, func(i int, raw json.RawMessage) bool {
		if i == busyAt {
			out.status, out.code = http.StatusServiceUnavailable, codeServerBusy
			return false
		}
		ev, code := parseEnvelope(raw, allowed)
		if code == codeSuccess && (i == rejectAt || s.faults.rejectAlerts[ev.AlertID]) {
			code = codeInvalidFormat
		}
		if code != codeSuccess {
			out.status, out.code = http.StatusBadRequest, code
			return false
		}
		ev.Channel = rec.Channel
		accepted = append(accepted, ev)
		return true
	})
	if !ok && out.code == codeSuccess {
		out.status, out.code = http.StatusBadRequest, codeInvalidFormat
	}

	for _, ev := range accepted {
		s.events = append(s.events, ev)
		if ev.AlertID != "" {
			s.perAlert[ev.AlertID]++
		}
	}
	rec.Stored = len(accepted)

	if !ok {
		// NOTE: this assumes HEC's error response carries no ackId, so the
		// events stored before the bad one are never acknowledged.
		out.invalidEvent = &bad
		return out
	}
	if s.opts.Ack {
		id := s.newAckLocked(rec.Channel)
		out.ackID = &id
	}
	if s.faults.dropNext > 0 {
		s.faults.dropNext--
		s.counts.Dropped++
		out.drop = true
	}
	return out
}

// newAckLocked assigns the next ack id of a channel.
func (s *Server) newAckLocked(name string) int64 {
	ch := s.channels[name]
	if ch == nil {
		ch = &channel{pending: map[int64]time.Time{}}
		s.channels[name] = ch
	}
	id := ch.nextID
	ch.nextID++
	ch.pending[id] = time.Now()
	return id
}

// handleAck serves the indexer acknowledgement endpoint: the body
// {"acks":[0,1]} gets {"acks":{"0":true,"1":false}}. An ack is true once
// its delay has passed, and HEC reports true only once: the next query
// for the same id gets false.
func (s *Server) handleAck(w http.ResponseWriter, r *http.Request) {
	rec := Request{Path: r.URL.Path, Channel: channelOf(r), Code: -1}
	defer func() { s.record(rec) }()
	s.count(func(c *Counts) { c.AckRequests++ })

	if !s.passDown(r) {
		s.count(func(c *Counts) { c.Dropped++ })
		panic(http.ErrAbortHandler)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rec.Bytes = len(body)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	s.mu.Lock()
	delay := s.faults.delay
	s.mu.Unlock()
	if delay > 0 && s.wait(r, delay, false) != nil {
		s.count(func(c *Counts) { c.Dropped++ })
		panic(http.ErrAbortHandler)
	}

	if f, ok := s.takeAckFailure(); ok {
		s.fail(w, &rec, f.status, nil)
		return
	}
	if !s.authorize(w, r, &rec) {
		return
	}
	if !s.opts.Ack {
		s.reply(w, &rec, http.StatusBadRequest, codeAckDisabled, nil, nil)
		return
	}
	if !s.checkChannel(w, r, &rec) {
		return
	}

	var query struct {
		Acks []int64 `json:"acks"`
	}
	if err := json.Unmarshal(body, &query); err != nil {
		s.reply(w, &rec, http.StatusBadRequest, codeInvalidFormat, nil, nil)
		return
	}

	s.mu.Lock()
	status := make(map[string]bool, len(query.Acks))
	ch := s.channels[rec.Channel]
	for _, id := range query.Acks {
		done := false
		if ch != nil {
			if at, ok := ch.pending[id]; ok && s.ackDelay != Never && time.Since(at) >= s.ackDelay {
				done = true
				delete(ch.pending, id)
			}
		}
		status[strconv.FormatInt(id, 10)] = done
	}
	s.mu.Unlock()

	rec.Status = http.StatusOK
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"acks": status})
}

// handleHealth serves the health endpoint.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	rec := Request{Path: r.URL.Path, Code: -1}
	defer func() { s.record(rec) }()
	s.count(func(c *Counts) { c.HealthRequests++ })
	if !s.passDown(r) {
		panic(http.ErrAbortHandler)
	}
	s.reply(w, &rec, http.StatusOK, codeHealthy, nil, nil)
}

// authorize checks the token as HEC does: the header "Authorization:
// Splunk <token>", or basic authentication with the token as password.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, rec *Request) bool {
	s.mu.Lock()
	token, disabled := s.token, s.tokenDisabled
	s.mu.Unlock()

	if r.URL.Query().Has("token") {
		s.reply(w, rec, http.StatusBadRequest, codeQueryStringAuth, nil, nil)
		return false
	}

	header := r.Header.Get("Authorization")
	var got string
	switch {
	case header == "":
		s.reply(w, rec, http.StatusUnauthorized, codeTokenRequired, nil, nil)
		return false
	case strings.HasPrefix(header, "Splunk "):
		got = strings.TrimPrefix(header, "Splunk ")
	default:
		_, password, ok := r.BasicAuth()
		if !ok {
			s.reply(w, rec, http.StatusUnauthorized, codeInvalidAuth, nil, nil)
			return false
		}
		got = password
	}

	if got != token {
		s.reply(w, rec, http.StatusForbidden, codeInvalidToken, nil, nil)
		return false
	}
	if disabled {
		s.reply(w, rec, http.StatusForbidden, codeTokenDisabled, nil, nil)
		return false
	}
	return true
}

// checkChannel requires a channel when acks are on and rejects a channel
// that is not a GUID.
func (s *Server) checkChannel(w http.ResponseWriter, r *http.Request, rec *Request) bool {
	switch {
	case rec.Channel == "" && s.opts.Ack:
		s.reply(w, rec, http.StatusBadRequest, codeChannelMissing, nil, nil)
		return false
	case rec.Channel != "" && !guidPattern.MatchString(rec.Channel):
		s.reply(w, rec, http.StatusBadRequest, codeInvalidChannel, nil, nil)
		return false
	}
	return true
}

// channelOf returns the request's channel, from the header or the query.
func channelOf(r *http.Request) string {
	if c := r.Header.Get("X-Splunk-Request-Channel"); c != "" {
		return c
	}
	return r.URL.Query().Get("channel")
}

// fail sends a forced failure.
func (s *Server) fail(w http.ResponseWriter, rec *Request, status int, invalidEvent *int) {
	if code, _, ok := hecCode(status); ok {
		s.reply(w, rec, status, code, invalidEvent, nil)
		return
	}
	rec.Status = status
	http.Error(w, http.StatusText(status), status)
}

func (s *Server) reply(w http.ResponseWriter, rec *Request, status, code int, invalidEvent *int, ackID *int64) {
	rec.Status, rec.Code = status, code
	writeJSON(w, status, hecJSON{Text: codeText[code], Code: code, InvalidEventNumber: invalidEvent, AckID: ackID})
}

func writeJSON(w http.ResponseWriter, status int, a hecJSON) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(a)
}

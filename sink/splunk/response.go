package splunk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxResponseBytes bounds how much of a response body is read. HEC's
// responses are a few dozen bytes, and the start of a proxy's error page is
// enough to show in a log.
const maxResponseBytes = 64 << 10

// HEC codes that the sink treats specially, from Splunk's "Troubleshoot
// HTTP Event Collector" table.
const (
	codeSuccess     = 0
	codeAckDisabled = 14
)

// dataCodes are the HEC codes that blame the data of an event: 5 no data,
// 6 invalid data format, 12 event field is required, 13 event field cannot
// be blank, 15 error in handling indexed fields. Sending the same event
// again can never succeed.
var dataCodes = map[int]bool{5: true, 6: true, 12: true, 13: true, 15: true}

// retryableStatus are the statuses of an HEC, or of the proxy or load
// balancer in front of it, that is busy, failing or restarting. They clear
// up on their own, so they are logged as warnings.
var retryableStatus = map[int]bool{
	http.StatusRequestTimeout:      true,
	http.StatusTooManyRequests:     true,
	http.StatusInternalServerError: true,
	http.StatusBadGateway:          true,
	http.StatusServiceUnavailable:  true,
	http.StatusGatewayTimeout:      true,
}

// hecJSON is the JSON body of HEC's responses. Code, InvalidEvent and AckID
// are nil when absent.
type hecJSON struct {
	Text         string `json:"text"`
	Code         *int   `json:"code"`
	InvalidEvent *int   `json:"invalid-event-number"`
	AckID        *int64 `json:"ackId"`
}

// response is HEC's response to one request.
type response struct {
	status int
	body   []byte
	hec    hecJSON
	isHEC  bool // the body parsed as HEC's JSON
}

// success reports whether HEC accepted the request: a 2xx status with code
// 0. An empty 2xx body counts too, because some HEC-compatible receivers
// send it. A 2xx with another body, such as the login page of a proxy,
// does not, because taking it for success would lose alerts.
func (r *response) success() bool {
	if r.status < 200 || r.status > 299 {
		return false
	}
	if len(bytes.TrimSpace(r.body)) == 0 {
		return true
	}
	return r.isHEC && (r.hec.Code == nil || *r.hec.Code == codeSuccess)
}

// code returns HEC's code, or -1 without one.
func (r *response) code() int {
	if r.hec.Code == nil {
		return -1
	}
	return *r.hec.Code
}

// stoppedAt returns invalid-event-number when it names an event of a
// request of n events: HEC processed the events before it and none after.
func (r *response) stoppedAt(n int) (int, bool) {
	if !r.isHEC || r.hec.InvalidEvent == nil {
		return 0, false
	}
	i := *r.hec.InvalidEvent
	return i, i >= 0 && i < n
}

// post sends body to u with the token and channel headers, within
// Sink_Timeout. Its error names the URL without credentials and never
// contains the token.
func (s *Sink) post(ctx context.Context, u string, body []byte) (*response, error) {
	reqCtx, cancel := context.WithTimeout(ctx, s.cfg.timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request for %s: %w", s.cfg.shownURL, err)
	}
	req.Header.Set("Authorization", s.authorization)
	req.Header.Set("Content-Type", "application/json")
	if s.cfg.channel != "" {
		req.Header.Set("X-Splunk-Request-Channel", s.cfg.channel)
	}

	resp, err := s.client.Do(req)
	if err != nil {
		return nil, s.transportError(ctx, reqCtx, err)
	}
	defer resp.Body.Close()

	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, s.transportError(ctx, reqCtx, err)
	}
	// Drain a little more so that the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))

	r := &response{status: resp.StatusCode, body: data}
	r.isHEC = json.Unmarshal(data, &r.hec) == nil
	return r, nil
}

// transportError rewords a failed exchange: the caller's ctx ended, the
// request's Sink_Timeout passed, or the connection failed. net/http's
// *url.Error repeats the request URL, so it is unwrapped and the shown URL
// used instead.
func (s *Sink) transportError(ctx, reqCtx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("sending to HEC at %s stopped: %w", s.cfg.shownURL, context.Cause(ctx))
	case reqCtx.Err() != nil:
		return fmt.Errorf("request to HEC at %s timed out after Sink_Timeout (%s): %w", s.cfg.shownURL, s.cfg.timeout, reqCtx.Err())
	}
	return fmt.Errorf("send to HEC at %s: %w", s.cfg.shownURL, err)
}

// describe returns the response as one line for reasons and logs, such as
// `HEC responded 503 Service Unavailable: Server is busy (code 9)`.
func (s *Sink) describe(r *response) string {
	var b strings.Builder
	fmt.Fprintf(&b, "HEC responded %d %s", r.status, http.StatusText(r.status))
	switch {
	case r.isHEC && r.hec.Code != nil:
		fmt.Fprintf(&b, ": %s (code %d)", s.redact(r.hec.Text), *r.hec.Code)
	case r.isHEC && r.hec.Text != "":
		fmt.Fprintf(&b, ": %s", s.redact(r.hec.Text))
	case len(bytes.TrimSpace(r.body)) > 0:
		fmt.Fprintf(&b, " with a body that is not HEC's JSON: %q", s.redact(snippet(r.body)))
	}
	return b.String()
}

// redact removes the token from text that the server sent, in case a
// proxy echoes request headers back.
func (s *Sink) redact(text string) string {
	return strings.ReplaceAll(text, s.cfg.token, "[token]")
}

// snippet returns the start of a body, cut at 200 bytes on a rune
// boundary.
func snippet(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) <= 200 {
		return string(body)
	}
	cut := 200
	for cut > 0 && !utf8.RuneStart(body[cut]) {
		cut--
	}
	return string(body[:cut]) + "…"
}

package splunk

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/edgehunt/runningrat/detect"
)

// HEC codes that point at the configuration rather than at the data.
const (
	codeIncorrectIndex = 7
	codeChannelMissing = 10
	codeInvalidChannel = 11
)

// sendRequest sends the events at indexes as one request and records the
// outcome of each. It returns an error when the failure concerns the whole
// request, so that Send does not try the rest of the batch.
func (s *Sink) sendRequest(ctx context.Context, at *attempt, alerts []detect.Alert, events [][]byte, indexes []int) error {
	if err := ctx.Err(); err != nil {
		err = fmt.Errorf("sending to HEC at %s stopped: %w", s.cfg.shownURL, context.Cause(ctx))
		at.stop(indexes, err)
		return err
	}

	var body []byte
	for _, i := range indexes {
		body = append(body, events[i]...)
	}
	r, err := s.post(ctx, s.cfg.eventURL, body)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("HEC unreachable; the alerts will be sent again", "url", s.cfg.shownURL, "events", len(indexes), "error", err)
		}
		at.stop(indexes, err)
		return err
	}

	if r.success() {
		return s.accept(at, indexes, r)
	}
	if r.status == http.StatusRequestEntityTooLarge {
		if len(indexes) == 1 {
			reason := fmt.Sprintf("event of %d bytes is larger than HEC accepts: %s", len(body), s.describe(r))
			s.reject(at, alerts, indexes[0], reason)
			return nil
		}
		return s.split(ctx, at, alerts, events, indexes, r)
	}
	if n, ok := r.stoppedAt(len(indexes)); ok {
		return s.acceptPart(at, alerts, indexes, r, n)
	}
	if r.status == http.StatusBadRequest && dataCodes[r.code()] {
		if len(indexes) == 1 {
			s.reject(at, alerts, indexes[0], "HEC rejected the event: "+s.describe(r))
			return nil
		}
		// HEC blamed the data without naming the event: halve the
		// request until the bad events stand alone.
		return s.split(ctx, at, alerts, events, indexes, r)
	}

	err = errors.New(s.describe(r))
	s.logFailure(r, len(indexes))
	at.stop(indexes, err)
	return err
}

// accept records a request that HEC took whole. With acks on, its events
// wait for their ackId, and a response without one means that the token
// has indexer acknowledgement off.
func (s *Sink) accept(at *attempt, indexes []int, r *response) error {
	switch {
	case !s.cfg.ack:
		at.deliver(indexes)
		return nil
	case r.hec.AckID != nil:
		at.await(*r.hec.AckID, indexes)
		return nil
	}

	// Check again before the next request, so that it is not sent, and
	// indexed without an ack, while acks stay off.
	s.ackChecked.Store(false)
	err := errors.New("HEC accepted the events but returned no ackId although Splunk_Ack is on: turn on indexer acknowledgement for the token, or set Splunk_Ack off")
	s.log.Error("indexer acknowledgement is off for the HEC token; the alerts will be sent again, and HEC may index them twice",
		"url", s.cfg.shownURL, "events", len(indexes))
	at.stop(indexes, err)
	return err
}

// acceptPart records a request that HEC processed up to event n, the
// invalid-event-number of its response. The events before n were taken,
// event n failed, and the events after n were not processed.
func (s *Sink) acceptPart(at *attempt, alerts []detect.Alert, indexes []int, r *response, n int) error {
	head := indexes[:n]
	switch {
	case !s.cfg.ack:
		at.deliver(head)
	case r.hec.AckID != nil:
		at.await(*r.hec.AckID, head)
	default:
		at.mark(head, transient, "HEC took the event but failed the request without an ackId, so its indexing is unconfirmed")
	}

	if dataCodes[r.code()] {
		s.reject(at, alerts, indexes[n], "HEC rejected the event: "+s.describe(r))
		at.mark(indexes[n+1:], transient, fmt.Sprintf("not processed: HEC stopped at an earlier event of the request (%d), which it rejected", n))
		return nil
	}

	err := errors.New(s.describe(r))
	s.logFailure(r, len(indexes)-n)
	at.stop(indexes[n:], err)
	return err
}

// split sends the two halves of a request that HEC refused as a whole.
func (s *Sink) split(ctx context.Context, at *attempt, alerts []detect.Alert, events [][]byte, indexes []int, r *response) error {
	half := len(indexes) / 2
	s.log.Info("splitting the request in halves", "response", s.describe(r), "events", len(indexes))
	if err := s.sendRequest(ctx, at, alerts, events, indexes[:half]); err != nil {
		at.stop(indexes[half:], err)
		return err
	}
	return s.sendRequest(ctx, at, alerts, events, indexes[half:])
}

// reject records an alert that HEC will never take.
func (s *Sink) reject(at *attempt, alerts []detect.Alert, i int, reason string) {
	s.log.Error("HEC rejected an alert for good", "alert_id", alerts[i].ID, "reason", reason)
	at.mark([]int{i}, permanent, reason)
}

// logFailure logs a failed request with what to do about it. Every such
// failure leaves the alerts to be sent again.
func (s *Sink) logFailure(r *response, events int) {
	attrs := []any{"url", s.cfg.shownURL, "response", s.describe(r), "events", events}
	switch code := r.code(); {
	case retryableStatus[r.status]:
		s.log.Warn("HEC is busy or failing; the alerts will be sent again", attrs...)
	case r.status == http.StatusUnauthorized || r.status == http.StatusForbidden:
		s.log.Error("HEC rejected the token: fix Splunk_Token or Splunk_Token_Env, or enable the token in Splunk; the alerts are kept and sent again", attrs...)
	case r.status == http.StatusNotFound:
		s.log.Error("HEC endpoint not found: check Splunk_URL and any proxy in front of HEC; the alerts are kept and sent again", attrs...)
	case code == codeIncorrectIndex:
		s.log.Error("HEC rejected the index: add it to the token's allowed indexes or fix Splunk_Index; the alerts are kept and sent again",
			append(attrs, "index", s.cfg.index)...)
	case code == codeChannelMissing || code == codeInvalidChannel:
		s.log.Error("HEC requires a valid data channel because the token has indexer acknowledgement on: set Splunk_Ack on, or fix Splunk_Channel; the alerts are kept and sent again", attrs...)
	default:
		s.log.Error("unexpected response from HEC: check Splunk_URL and the HEC configuration; the alerts are kept and sent again", attrs...)
	}
}

package splunk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Ack polling starts soon, because a lightly loaded indexer acknowledges
// within a second, and backs off to maxAckPoll so that a slow one is not
// flooded. maxAckPolls bounds the loop even if the clock misbehaves.
const (
	firstAckPoll = 100 * time.Millisecond
	maxAckPoll   = 5 * time.Second
	maxAckPolls  = 1000
)

// errAckDisabled is the error for HEC's code 14 response.
var errAckDisabled = errors.New("HEC responded that indexer acknowledgement is disabled for the token (code 14): turn it on for the token in Splunk, or set Splunk_Ack off")

// checkAck queries HEC once, before the first request, whether the token
// has indexer acknowledgement on. Without the check, every attempt while
// acks are off would get events indexed and then sent again for lack of an
// ackId. The query names ack id 0, which HEC reports as false on a fresh
// channel.
func (s *Sink) checkAck(ctx context.Context) error {
	if s.ackChecked.Load() {
		return nil
	}
	s.ackMu.Lock()
	defer s.ackMu.Unlock()
	if s.ackChecked.Load() {
		return nil
	}

	r, err := s.post(ctx, s.cfg.ackURL, []byte(`{"acks":[0]}`))
	if err != nil {
		s.log.Warn("HEC unreachable; the alerts will be sent again", "url", s.cfg.shownURL, "error", err)
		return err
	}
	switch {
	case r.status == http.StatusBadRequest && r.code() == codeAckDisabled:
		s.log.Error("Splunk_Ack is on but the HEC token has indexer acknowledgement off; no alert is sent until one of them changes",
			"url", s.cfg.shownURL)
		return errAckDisabled
	case r.status >= 200 && r.status <= 299 && r.isHEC:
		s.ackChecked.Store(true)
		return nil
	}
	s.logFailure(r, 0)
	return fmt.Errorf("check indexer acknowledgement: %s", s.describe(r))
}

// awaitAcks polls the ack endpoint until HEC acknowledges every pending
// request, Splunk_Ack_Timeout passes or ctx ends. Acknowledged alerts are
// delivered; the others stay transient failures, because HEC does not say
// whether an unacknowledged event is still on its way or lost.
func (s *Sink) awaitAcks(parent context.Context, at *attempt) {
	ctx, cancel := context.WithTimeout(parent, s.cfg.ackTimeout)
	defer cancel()

	wait := firstAckPoll
	for range maxAckPolls {
		if len(at.pending) == 0 {
			return
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			s.giveUpAcks(parent, at)
			return
		case <-timer.C:
		}
		wait = min(2*wait, maxAckPoll)

		if err := s.pollAcks(ctx, at); err != nil {
			if errors.Is(err, errAckDisabled) {
				s.ackChecked.Store(false)
				for _, indexes := range at.pending {
					at.stop(indexes, err)
				}
				clear(at.pending)
				return
			}
			if ctx.Err() == nil {
				s.log.Warn("ack query failed; polling goes on", "url", s.cfg.shownURL, "error", err)
			}
		}
	}
	s.giveUpAcks(parent, at)
}

// pollAcks sends one ack query for every pending ackId and delivers the
// requests HEC acknowledges. HEC reports true only once per ackId, so a
// true status is recorded at once.
func (s *Sink) pollAcks(ctx context.Context, at *attempt) error {
	ids := make([]int64, 0, len(at.pending))
	for id := range at.pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	query, _ := json.Marshal(map[string][]int64{"acks": ids})

	r, err := s.post(ctx, s.cfg.ackURL, query)
	if err != nil {
		return err
	}
	if r.status == http.StatusBadRequest && r.code() == codeAckDisabled {
		s.log.Error("HEC responded that indexer acknowledgement is disabled for the token; the alerts will be sent again", "url", s.cfg.shownURL)
		return errAckDisabled
	}
	if r.status < 200 || r.status > 299 {
		return errors.New(s.describe(r))
	}

	var status struct {
		Acks map[string]bool `json:"acks"`
	}
	if err := json.Unmarshal(r.body, &status); err != nil {
		return fmt.Errorf("invalid ack response from HEC: %w", err)
	}
	for key, done := range status.Acks {
		id, err := strconv.ParseInt(key, 10, 64)
		if err != nil || !done {
			continue
		}
		if indexes, ok := at.pending[id]; ok {
			at.deliver(indexes)
			delete(at.pending, id)
		}
	}
	return nil
}

// giveUpAcks marks the alerts still awaiting an ack as transient failures.
// parent is Send's context: when it ended, the caller's deadline came
// before Splunk_Ack_Timeout.
func (s *Sink) giveUpAcks(parent context.Context, at *attempt) {
	reason := fmt.Sprintf("HEC did not acknowledge indexing within Splunk_Ack_Timeout (%s)", s.cfg.ackTimeout)
	if parent.Err() != nil {
		reason = fmt.Sprintf("HEC did not acknowledge indexing before the send ended: %v", context.Cause(parent))
	}
	count := 0
	for _, indexes := range at.pending {
		at.stop(indexes, errors.New(reason))
		count += len(indexes)
	}
	clear(at.pending)
	s.log.Warn("alerts not acknowledged by HEC; they will be sent again, and HEC may index them twice",
		"url", s.cfg.shownURL, "alerts", count, "reason", reason)
}

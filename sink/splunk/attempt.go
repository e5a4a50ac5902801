package splunk

import (
	"fmt"

	"github.com/edgehunt/runningrat/sink"
)

// outcome is the delivery state of one alert during an attempt.
type outcome uint8

const (
	unsent      outcome = iota
	delivered           // HEC accepted it, and acknowledged indexing when acks are on
	awaitingAck         // HEC took it and gave an ackId that is not yet true
	transient           // send again later
	permanent           // HEC rejects it for good
)

// attempt tracks the alerts of one Send. It belongs to one goroutine.
type attempt struct {
	outcomes []outcome
	reasons  []string
	// pending maps an ackId to the alerts of the request it covers.
	pending map[int64][]int
	// cause is the first error that stopped sending, kept so that the
	// "none delivered" error wraps it (errors.Is finds a timeout).
	cause error
}

func newAttempt(n int) *attempt {
	return &attempt{
		outcomes: make([]outcome, n),
		reasons:  make([]string, n),
		pending:  map[int64][]int{},
	}
}

func (a *attempt) mark(indexes []int, o outcome, reason string) {
	for _, i := range indexes {
		a.outcomes[i] = o
		a.reasons[i] = reason
	}
}

func (a *attempt) deliver(indexes []int) {
	a.mark(indexes, delivered, "")
}

// await records a request whose indexing HEC will acknowledge under ackID.
// An ackId seen twice in one attempt means that HEC lost the channel's ack
// state, for example by expiring the channel, and numbered from 0 again.
// The earlier request can then no longer be confirmed and is sent again.
func (a *attempt) await(ackID int64, indexes []int) {
	if earlier, ok := a.pending[ackID]; ok {
		a.mark(earlier, transient, fmt.Sprintf("HEC gave ackId %d to a later request too, so this request's indexing cannot be confirmed", ackID))
	}
	a.mark(indexes, awaitingAck, "")
	a.pending[ackID] = append([]int(nil), indexes...)
}

// stop records the error that ended sending and marks the indexes as
// transient failures with its text.
func (a *attempt) stop(indexes []int, err error) {
	if a.cause == nil {
		a.cause = err
	}
	a.mark(indexes, transient, err.Error())
}

// result turns the outcomes into Send's return value: nil, a
// *sink.BatchError, or, when nothing was delivered and nothing was
// rejected for good, a plain error so that the caller resends the batch.
func (a *attempt) result() error {
	var items []sink.ItemError
	deliveredCount, rejectedCount := 0, 0
	for i, o := range a.outcomes {
		switch o {
		case delivered:
			deliveredCount++
		case permanent:
			rejectedCount++
			items = append(items, sink.ItemError{Index: i, Permanent: true, Reason: a.reasons[i]})
		default:
			items = append(items, sink.ItemError{Index: i, Reason: a.reason(i)})
		}
	}

	switch {
	case len(items) == 0:
		return nil
	case deliveredCount == 0 && rejectedCount == 0:
		if a.cause != nil {
			return fmt.Errorf("no alert of %d delivered to Splunk HEC: %w", len(a.outcomes), a.cause)
		}
		return fmt.Errorf("no alert of %d delivered to Splunk HEC: %s", len(a.outcomes), items[0].Reason)
	}
	return &sink.BatchError{Items: items}
}

// reason returns why alert i was not delivered, with a default for the
// states that Send normally resolves before it returns.
func (a *attempt) reason(i int) string {
	switch {
	case a.reasons[i] != "":
		return a.reasons[i]
	case a.outcomes[i] == awaitingAck:
		return "HEC did not acknowledge indexing"
	}
	return "not sent"
}

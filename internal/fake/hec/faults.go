package hec

import (
	"net/http"
	"time"
)

// faults are the failures a test asked for. The Server's mutex guards
// them.
type faults struct {
	// events and acks are one-shot responses for the next event and ack
	// requests, in order.
	events []failure
	acks   []failure
	// rejectAt is the index of the event that the next batch rejects
	// with code 6, or -1.
	rejectAt int
	// rejectAlerts are alert ids whose events are always rejected.
	rejectAlerts map[string]bool
	// dropNext counts event requests whose connection is cut after their
	// events are stored, before the response.
	dropNext int
	delay    time.Duration
	maxBody  int64
}

// failure is one forced response. With acceptBefore >= 0, events before
// that index are stored first and the response carries it as
// invalid-event-number,
// as HEC does when it gets busy in the middle of a batch.
type failure struct {
	status       int
	acceptBefore int
}

// hecCode returns HEC's code and text for a forced status. Statuses that
// HEC itself never sends (429, 502, 504) come from the proxy or load
// balancer in front of it, which responds in plain text.
func hecCode(status int) (code int, text string, ok bool) {
	switch status {
	case http.StatusServiceUnavailable:
		return 9, "Server is busy", true
	case http.StatusInternalServerError:
		return 8, "Internal server error", true
	case http.StatusBadRequest:
		return 6, "Invalid data format", true
	case http.StatusUnauthorized:
		return 2, "Token is required", true
	case http.StatusForbidden:
		return 4, "Invalid token", true
	}
	return 0, "", false
}

// FailNext responds to the next n event requests with status, before the
// token is checked, and stores none of their events. 503, 500, 400, 401
// and 403 carry HEC's JSON body (codes 9, 8, 6, 2 and 4). Any other status
// gets a plain-text body, as the proxy in front of HEC would send.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults.events = append(s.faults.events, failure{status: status, acceptBefore: -1})
	}
}

// FailAcksNext responds to the next n ack requests with status.
func (s *Server) FailAcksNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults.acks = append(s.faults.acks, failure{status: status, acceptBefore: -1})
	}
}

// BusyAfter makes the next event request store its events before index k
// and respond 503 code 9 (server busy) with invalid-event-number k, so that
// the events from k on are not processed. A batch of k events or fewer is
// accepted whole.
func (s *Server) BusyAfter(k int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.events = append(s.faults.events, failure{status: http.StatusServiceUnavailable, acceptBefore: k})
}

// RejectEventAt makes the next batch reject its event at index k with 400
// code 6 (invalid data format) and invalid-event-number k: events before k
// are stored, events after k are not processed. A batch of k events or
// fewer is accepted whole and uses up the fault.
func (s *Server) RejectEventAt(k int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.rejectAt = k
}

// RejectAlert makes every event whose fields.alert_id is id fail with 400
// code 6, in every batch, as an event that HEC can never parse would.
func (s *Server) RejectAlert(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults.rejectAlerts == nil {
		s.faults.rejectAlerts = map[string]bool{}
	}
	s.faults.rejectAlerts[id] = true
}

// DropNext makes the next n event requests store their events and then
// cut the connection without a response: the sender cannot tell that the
// events were indexed.
func (s *Server) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.dropNext += n
}

// SetDelay delays every response by d. A delayed event request is still
// processed after its client gave up, as a slow HEC does.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.delay = d
}

// SetMaxBody responds 413 to event requests whose body is larger than n
// bytes; 0 removes the limit.
func (s *Server) SetMaxBody(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.maxBody = n
}

// SetAckDelay makes an ack turn true only d after its event request was
// accepted; Never keeps every ack false. The setting applies to pending
// acks too, so a test can hold acks back and release them later.
func (s *Server) SetAckDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ackDelay = d
}

// ClearFaults removes every fault: queued failures, rejections, drops, the
// delay, the body limit set by SetMaxBody and the ack delay. It does not
// bring a server up that is down.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = faults{rejectAt: -1, maxBody: s.opts.MaxBodyBytes}
	s.ackDelay = 0
}

// takeEventFailure pops the next forced event response.
func (s *Server) takeEventFailure() (failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults.events) == 0 {
		return failure{}, false
	}
	f := s.faults.events[0]
	s.faults.events = s.faults.events[1:]
	return f, true
}

// takeAckFailure pops the next forced ack response.
func (s *Server) takeAckFailure() (failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults.acks) == 0 {
		return failure{}, false
	}
	f := s.faults.acks[0]
	s.faults.acks = s.faults.acks[1:]
	return f, true
}

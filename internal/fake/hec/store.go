package hec

// record keeps the last requests, up to maxRequestLog.
func (s *Server) record(rec Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == maxRequestLog {
		copy(s.requests, s.requests[1:])
		s.requests = s.requests[:maxRequestLog-1]
	}
	s.requests = append(s.requests, rec)
}

func (s *Server) count(update func(*Counts)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	update(&s.counts)
}

// Events returns a copy of the stored events, in the order they arrived.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Count returns how many stored events carry the alert id in
// fields.alert_id: 0 for a lost alert, more than 1 for duplicates.
func (s *Server) Count(alertID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perAlert[alertID]
}

// AlertCounts returns a copy of the number of stored events per alert id.
func (s *Server) AlertCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.perAlert))
	for id, n := range s.perAlert {
		out[id] = n
	}
	return out
}

// Requests returns the records of the last requests, oldest first; it
// keeps at most 1024.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Counts returns request totals since the server started.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// ResetEvents deletes the stored events and the per-alert counts.
func (s *Server) ResetEvents() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = nil
	s.perAlert = map[string]int{}
}

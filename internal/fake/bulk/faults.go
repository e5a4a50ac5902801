package bulk

import (
	"math/rand/v2"
	"time"
)

// ItemFault is a failure of one bulk item inside a 200 response with
// "errors": true.
type ItemFault int

const (
	// ItemRejected is 429 es_rejected_execution_exception (on OpenSearch,
	// rejected_execution_exception): the write queue is full.
	ItemRejected ItemFault = iota + 1
	// ItemMappingError is 400 document_parsing_exception on Elasticsearch 8
	// and 9, and mapper_parsing_exception on Elasticsearch 7 and
	// OpenSearch: the document does not fit the index mapping.
	ItemMappingError
	// ItemInternalError is 500 illegal_state_exception.
	ItemInternalError
	// ItemUnavailable is 503 unavailable_shards_exception: the primary
	// shard is not active.
	ItemUnavailable
)

func (f ItemFault) String() string {
	switch f {
	case ItemRejected:
		return "rejected (429)"
	case ItemMappingError:
		return "mapping error (400)"
	case ItemInternalError:
		return "internal error (500)"
	case ItemUnavailable:
		return "unavailable shards (503)"
	}
	return "no fault"
}

// faults are the failures the server has been set to inject. Server.mu
// guards them.
type faults struct {
	failStatus   int
	skipRequests int // how many bulk requests to serve before failing
	failRequests int // how many more bulk requests get failStatus
	maxContent   int64
	delay        time.Duration
	autoCreate   bool

	items map[string]*itemFaultCount // by _id

	randomRate   float64
	randomFaults []ItemFault
	random       *rand.Rand
}

type itemFaultCount struct {
	fault ItemFault
	left  int // negative: every time
}

func newFaults() faults {
	return faults{
		maxContent: DefaultMaxContentLength,
		autoCreate: true,
		items:      map[string]*itemFaultCount{},
	}
}

// FailRequests responds to the next n bulk requests with the HTTP status
// (429, 500, 502, 503, 504, 401, 403, 404 or any other) and the body the
// product sends with it, before checking credentials and without storing
// anything. Requests for / are not counted. n of 0 clears it.
func (s *Server) FailRequests(n, status int) {
	s.FailRequestsAfter(0, n, status)
}

// FailRequestsAfter is FailRequests for the n bulk requests that follow the
// next skip ones, which are served normally.
func (s *Server) FailRequestsAfter(skip, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.skipRequests = skip
	s.faults.failRequests = n
	s.faults.failStatus = status
}

// FailItem makes the item with this _id fail with fault the next times it
// arrives, in any index; a negative times fails it every time.
func (s *Server) FailItem(id string, fault ItemFault, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if times == 0 {
		delete(s.faults.items, id)
		return
	}
	s.faults.items[id] = &itemFaultCount{fault: fault, left: times}
}

// SetRandomItemFaults makes each item fail with probability rate, with a
// fault drawn evenly from faults, from a generator seeded with seed so that
// a run can be repeated. A rate of 0 turns it off.
func (s *Server) SetRandomItemFaults(rate float64, seed uint64, faults ...ItemFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.randomRate = rate
	s.faults.randomFaults = append([]ItemFault(nil), faults...)
	s.faults.random = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// SetMaxContentLength responds 413 to request bodies longer than n bytes,
// as Elasticsearch does above http.max_content_length.
func (s *Server) SetMaxContentLength(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.maxContent = n
}

// SetDelay holds every request for d before handling it. A client that
// gives up, or Down, ends the wait.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.delay = d
}

// SetAutoCreate turns automatic index creation on (the default) or off. Off,
// an item for an index that CreateIndex has not made fails with 404
// index_not_found_exception, as with action.auto_create_index set to false.
func (s *Server) SetAutoCreate(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults.autoCreate = on
}

// ClearFaults undoes every Fail*, SetRandomItemFaults, SetDelay and
// SetMaxContentLength call and turns automatic index creation back on.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = newFaults()
}

// takeRequestFault returns the status to fail this bulk request with, or 0.
func (f *faults) takeRequestFault() int {
	if f.failRequests <= 0 {
		return 0
	}
	if f.skipRequests > 0 {
		f.skipRequests--
		return 0
	}
	f.failRequests--
	return f.failStatus
}

// takeItemFault returns the fault for the item with this _id, or 0.
func (f *faults) takeItemFault(id string) ItemFault {
	if c, ok := f.items[id]; ok {
		if c.left > 0 {
			c.left--
			if c.left == 0 {
				delete(f.items, id)
			}
		}
		return c.fault
	}
	if f.randomRate > 0 && len(f.randomFaults) > 0 && f.random.Float64() < f.randomRate {
		return f.randomFaults[f.random.IntN(len(f.randomFaults))]
	}
	return 0
}

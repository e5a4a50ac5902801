package bulk

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Document is a stored document.
type Document struct {
	// Index is the target that the request named: an index, an alias or a
	// data stream.
	Index string
	// BackingIndex is the _index in the server's response: the index
	// itself, or a data stream's .ds-… backing index.
	BackingIndex string
	ID           string
	Source       json.RawMessage
	// Pipeline is the ingest pipeline the request asked for, or "".
	Pipeline string
	Version  int64
}

// Stats counts what the server has seen since it started.
type Stats struct {
	Requests     int // every HTTP request, / included
	BulkRequests int // requests to a _bulk path that got a response
	Items        int // bulk items handled
	Created      int // items stored by create or index
	Conflicts    int // create items that got 409
	ItemFaults   int // items failed by FailItem or SetRandomItemFaults
	Failed       int // requests failed by FailRequests
	TooLarge     int // requests that got 413
	Unauthorized int // requests that got 401
}

// Request describes a bulk request the server responded to. It holds no
// header, so that credentials never reach a test's output.
type Request struct {
	Path        string
	Query       string
	ContentType string
	Bytes       int
	Status      int
	Actions     []Action
}

// Action is one action line of a bulk request.
type Action struct {
	Op    string // create, index, update or delete
	Index string // from the line, or from the path
	ID    string
}

// maxRequests bounds the request log, so that a long run keeps a steady
// memory footprint.
const maxRequests = 1000

type docKey struct{ index, id string }

type storedDoc struct {
	Document
	generation int
}

// indexState is the state of an index or data stream.
type indexState struct {
	dataStream bool
	generation int // data stream generation, from 1
	created    time.Time
	seqNo      int64
}

func (ix *indexState) backingIndex(name string) string {
	if !ix.dataStream {
		return name
	}
	return fmt.Sprintf(".ds-%s-%s-%06d", name, ix.created.UTC().Format("2006.01.02"), ix.generation)
}

// store holds the documents. Server.mu guards it.
type store struct {
	indices   map[string]*indexState
	docs      map[docKey]*storedDoc
	writes    map[docKey]int
	conflicts map[docKey]int
}

func newStore() store {
	return store{
		indices:   map[string]*indexState{},
		docs:      map[docKey]*storedDoc{},
		writes:    map[docKey]int{},
		conflicts: map[docKey]int{},
	}
}

// isDataStreamName reports whether Elasticsearch's built-in logs-*-* index
// template would make name a data stream. OpenSearch ships no such
// template, so there it is a plain index.
func isDataStreamName(f Flavor, name string) bool {
	return !f.isOpenSearch() && strings.HasPrefix(name, "logs-") && strings.Count(name, "-") >= 2
}

// CreateIndex creates an index, or a data stream for a logs-*-* name on
// Elasticsearch, as a test does before turning automatic creation off.
func (s *Server) CreateIndex(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.createIndex(name)
}

func (s *Server) createIndex(name string) *indexState {
	if ix, ok := s.store.indices[name]; ok {
		return ix
	}
	ix := &indexState{dataStream: isDataStreamName(s.opts.Flavor, name), generation: 1, created: time.Now()}
	s.store.indices[name] = ix
	return ix
}

// Rollover starts a new backing index for a data stream, as the rollover
// API does. A create of an _id that only the old backing index holds then
// succeeds, so the document is stored twice and Writes counts 2: the known
// limit of _id deduplication on data streams.
func (s *Server) Rollover(dataStream string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix, ok := s.store.indices[dataStream]
	if !ok || !ix.dataStream {
		return fmt.Errorf("no data stream %q", dataStream)
	}
	ix.generation++
	return nil
}

// Documents returns the stored documents, sorted by index and _id.
func (s *Server) Documents() []Document {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Document, 0, len(s.store.docs))
	for _, d := range s.store.docs {
		out = append(out, d.Document)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Index != out[j].Index {
			return out[i].Index < out[j].Index
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Document returns the document stored under index and _id.
func (s *Server) Document(index, id string) (Document, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.store.docs[docKey{index, id}]
	if !ok {
		return Document{}, false
	}
	return d.Document, true
}

// Writes returns how many times a create or index action stored the _id in
// index. Exactly once is 1, however often the client resent it.
func (s *Server) Writes(index, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store.writes[docKey{index, id}]
}

// WriteCounts returns Writes for every _id of index.
func (s *Server) WriteCounts(index string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, n := range s.store.writes {
		if k.index == index {
			out[k.id] = n
		}
	}
	return out
}

// Conflicts returns how many creates of the _id in index got 409.
func (s *Server) Conflicts(index, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store.conflicts[docKey{index, id}]
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Requests returns the last bulk requests responded to, oldest first, at most
// 1000.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) recordRequest(r Request) {
	if len(s.requests) == maxRequests {
		copy(s.requests, s.requests[1:])
		s.requests = s.requests[:maxRequests-1]
	}
	s.requests = append(s.requests, r)
}

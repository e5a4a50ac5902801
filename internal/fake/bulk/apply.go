package bulk

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
)

// apply runs one item against the store, as a shard would, and returns its
// entry of the items array. The caller holds s.mu.
func (s *Server) apply(a *bulkAction) itemResult {
	s.stats.Items++
	res := itemResult{Index: a.Index, ID: a.ID}
	if s.opts.Flavor == Elasticsearch7 {
		res.Type = "_doc"
	}
	fail := func(status int, cause errorCause) itemResult {
		res.Status, res.Error = status, &cause
		return res
	}

	if reason := invalidIndexName(a.Index); reason != "" {
		return fail(http.StatusBadRequest, errorCause{Type: "invalid_index_name_exception",
			Reason: fmt.Sprintf("Invalid index name [%s], %s", a.Index, reason), IndexUUID: "_na_", Index: a.Index})
	}
	ix := s.store.indices[a.Index]
	if ix == nil {
		if !s.faults.autoCreate || a.Op == "delete" || a.Op == "update" {
			return fail(http.StatusNotFound, indexNotFound(a.Index, "[action.auto_create_index] is [false]"))
		}
		ix = s.createIndex(a.Index)
	}
	res.Index = ix.backingIndex(a.Index)
	if a.ID == "" {
		// Elasticsearch makes a 20-character id; any unique one will do here.
		a.ID = fmt.Sprintf("auto%016d", s.stats.Items)
		res.ID = a.ID
	}

	if fault := s.faults.takeItemFault(a.ID); fault != 0 {
		s.stats.ItemFaults++
		status, cause := itemFaultError(s.opts.Flavor, fault, res.Index, a.ID)
		return fail(status, cause)
	}

	key := docKey{a.Index, a.ID}
	existing := s.store.docs[key]
	switch a.Op {
	case "delete":
		if existing == nil {
			res.Result, res.Status = "not_found", http.StatusNotFound
			return s.succeed(ix, res, 1)
		}
		delete(s.store.docs, key)
		res.Result, res.Status = "deleted", http.StatusOK
		return s.succeed(ix, res, existing.Version+1)

	case "update":
		return s.update(ix, a, res, existing)
	}

	if ix.dataStream && a.Op != "create" {
		return fail(http.StatusBadRequest, errorCause{Type: "illegal_argument_exception",
			Reason: "only write ops with an op_type of create are allowed in data streams"})
	}
	var source map[string]json.RawMessage
	if err := json.Unmarshal(a.source, &source); err != nil || source == nil {
		return fail(http.StatusBadRequest, errorCause{Type: s.parsingErrorType(), Reason: "failed to parse: the source is not a JSON object"})
	}
	if ix.dataStream && source["@timestamp"] == nil {
		return fail(http.StatusBadRequest, errorCause{Type: s.parsingErrorType(), Reason: "data stream timestamp field [@timestamp] is missing"})
	}

	live := existing != nil && existing.generation == ix.generation
	if a.Op == "create" && live {
		s.store.conflicts[key]++
		s.stats.Conflicts++
		return fail(http.StatusConflict, errorCause{Type: "version_conflict_engine_exception",
			Reason:    fmt.Sprintf("[%s]: version conflict, document already exists (current version [%d])", a.ID, existing.Version),
			IndexUUID: "Jf1hWZbzRz6dXo7k0wXb2Q", Shard: "0", Index: res.Index})
	}

	version := int64(1)
	res.Result, res.Status = "created", http.StatusCreated
	if live {
		version = existing.Version + 1
		res.Result, res.Status = "updated", http.StatusOK
	}
	s.store.docs[key] = &storedDoc{
		Document: Document{
			Index: a.Index, BackingIndex: res.Index, ID: a.ID,
			Source: append(json.RawMessage(nil), a.source...), Pipeline: a.pipeline, Version: version,
		},
		generation: ix.generation,
	}
	s.store.writes[key]++
	s.stats.Created++
	return s.succeed(ix, res, version)
}

// update applies a partial document ("doc"), with "doc_as_upsert" or
// "upsert" for a missing one. Scripts are not supported.
func (s *Server) update(ix *indexState, a *bulkAction, res itemResult, existing *storedDoc) itemResult {
	var body struct {
		Doc         map[string]json.RawMessage `json:"doc"`
		Upsert      map[string]json.RawMessage `json:"upsert"`
		DocAsUpsert bool                       `json:"doc_as_upsert"`
	}
	if err := json.Unmarshal(a.source, &body); err != nil || (body.Doc == nil && body.Upsert == nil) {
		res.Status, res.Error = http.StatusBadRequest, &errorCause{Type: "action_request_validation_exception",
			Reason: "Validation Failed: 1: script or doc is missing;"}
		return res
	}

	merged := map[string]json.RawMessage{}
	version := int64(1)
	switch {
	case existing != nil:
		_ = json.Unmarshal(existing.Source, &merged)
		maps.Copy(merged, body.Doc)
		version = existing.Version + 1
		res.Result, res.Status = "updated", http.StatusOK
	case body.DocAsUpsert:
		maps.Copy(merged, body.Doc)
		res.Result, res.Status = "created", http.StatusCreated
	case body.Upsert != nil:
		maps.Copy(merged, body.Upsert)
		res.Result, res.Status = "created", http.StatusCreated
	default:
		res.Status, res.Error = http.StatusNotFound, &errorCause{Type: "document_missing_exception",
			Reason: fmt.Sprintf("[%s]: document missing", a.ID), IndexUUID: "Jf1hWZbzRz6dXo7k0wXb2Q", Shard: "0", Index: res.Index}
		return res
	}

	source, _ := json.Marshal(merged)
	s.store.docs[docKey{a.Index, a.ID}] = &storedDoc{
		Document:   Document{Index: a.Index, BackingIndex: res.Index, ID: a.ID, Source: source, Pipeline: a.pipeline, Version: version},
		generation: ix.generation,
	}
	return s.succeed(ix, res, version)
}

// succeed fills the fields of an item that reached a shard.
func (s *Server) succeed(ix *indexState, res itemResult, version int64) itemResult {
	seqNo := ix.seqNo
	ix.seqNo++
	res.Version = version
	res.Shards = &shardStats{Total: 2, Successful: 1, Failed: 0}
	res.SeqNo = &seqNo
	res.PrimaryTerm = 1
	return res
}

// parsingErrorType is the type of a document parsing failure: Elasticsearch
// 8.8 and later renamed mapper_parsing_exception.
func (s *Server) parsingErrorType() string {
	if s.opts.Flavor == Elasticsearch8 || s.opts.Flavor == Elasticsearch9 {
		return "document_parsing_exception"
	}
	return "mapper_parsing_exception"
}

// invalidIndexName returns why Elasticsearch rejects name, or "".
func invalidIndexName(name string) string {
	switch {
	case name == "." || name == "..":
		return "must not be '.' or '..'"
	case len(name) > 255:
		return fmt.Sprintf("index name is too long, (%d > 255)", len(name))
	case strings.ToLower(name) != name:
		return "must be lowercase"
	case strings.ContainsAny(name, `\/*?"<>| ,#:`):
		return `must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?]`
	case strings.HasPrefix(name, "_") || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "+"):
		return "must not start with '_', '-', or '+'"
	}
	return ""
}

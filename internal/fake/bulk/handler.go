package bulk

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// drainLimit bounds how much of a rejected body the server reads before it
// responds, so that the client can finish sending and read the response.
const drainLimit = 256 << 20

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	down := s.downSignal()
	s.mu.Lock()
	s.stats.Requests++
	delay := s.faults.delay
	s.mu.Unlock()

	if delay > 0 {
		timer := time.NewTimer(delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		case <-down:
			// Drops the connection without a response, as a crashed node does.
			panic(http.ErrAbortHandler)
		}
	}

	if r.URL.Path == "/" {
		s.serveInfo(w, r)
		return
	}
	index, ok := bulkTarget(r.URL.Path)
	if !ok {
		body := fmt.Sprintf(`{"error":"no handler found for uri [%s] and method [%s]"}`, r.URL.Path, r.Method)
		s.write(w, jsonReply(http.StatusBadRequest, []byte(body)))
		return
	}
	s.serveBulk(w, r, index)
}

// bulkTarget returns the index of a /_bulk or /<index>/_bulk path.
func bulkTarget(path string) (string, bool) {
	if path == "/_bulk" {
		return "", true
	}
	rest, ok := strings.CutSuffix(path, "/_bulk")
	if !ok || !strings.HasPrefix(rest, "/") || strings.Contains(rest[1:], "/") || len(rest) < 2 {
		return "", false
	}
	return rest[1:], true
}

func (s *Server) serveInfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.write(w, methodNotAllowed(r, "GET, HEAD"))
		return
	}
	if fail := s.authenticate(r); fail != nil {
		s.write(w, *fail)
		return
	}
	body, _ := json.MarshalIndent(productInfo(s.opts.Flavor), "", "  ")
	s.write(w, jsonReply(http.StatusOK, append(body, '\n')))
}

func (s *Server) serveBulk(w http.ResponseWriter, r *http.Request, pathIndex string) {
	start := time.Now()
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		s.write(w, methodNotAllowed(r, "POST, PUT"))
		return
	}

	s.mu.Lock()
	maxContent := s.faults.maxContent
	s.mu.Unlock()
	req := Request{Path: r.URL.Path, Query: r.URL.RawQuery, ContentType: r.Header.Get("Content-Type")}
	body, tooLarge, err := readBody(r, maxContent)
	if err != nil {
		return // the client went away
	}
	req.Bytes = len(body)
	if tooLarge {
		req.Bytes = int(max(r.ContentLength, maxContent+1))
		s.finish(w, &req, reply{status: http.StatusRequestEntityTooLarge, header: http.Header{"Connection": {"close"}}}, func(st *Stats) { st.TooLarge++ })
		return
	}

	s.mu.Lock()
	status := s.faults.takeRequestFault()
	s.mu.Unlock()
	if status != 0 {
		index := pathIndex
		if actions, err := parseBulk(s.opts.Flavor, body, pathIndex, ""); err == nil && index == "" {
			index = actions[0].Index
		}
		s.finish(w, &req, requestFailure(s.opts.Flavor, status, index, basicUser(r)), func(st *Stats) { st.Failed++ })
		return
	}

	if fail := s.authenticate(r); fail != nil {
		s.finish(w, &req, *fail, nil)
		return
	}
	if !s.acceptsContentType(req.ContentType) {
		body := fmt.Sprintf(`{"error":"Content-Type header [%s] is not supported","status":406}`, req.ContentType)
		s.finish(w, &req, jsonReply(http.StatusNotAcceptable, []byte(body)), nil)
		return
	}

	actions, perr := parseBulk(s.opts.Flavor, body, pathIndex, r.URL.Query().Get("pipeline"))
	if perr != nil {
		s.finish(w, &req, jsonReply(perr.status, errorBody(perr.status, errorCause{Type: perr.typ, Reason: perr.reason})), nil)
		return
	}
	for _, a := range actions {
		req.Actions = append(req.Actions, a.Action)
	}

	s.mu.Lock()
	items := make([]map[string]itemResult, len(actions))
	anyError := false
	for i := range actions {
		res := s.apply(&actions[i])
		anyError = anyError || res.Error != nil
		items[i] = map[string]itemResult{actions[i].Op: res}
	}
	s.mu.Unlock()

	s.finish(w, &req, jsonReply(http.StatusOK, s.bulkBody(time.Since(start), anyError, items)), nil)
}

// bulkBody writes the top-level fields in the order the product does:
// Elasticsearch 8 and 9 put errors first, 7 and OpenSearch put took first.
func (s *Server) bulkBody(took time.Duration, errors bool, items []map[string]itemResult) []byte {
	itemsJSON, _ := json.Marshal(items)
	ms := took.Milliseconds()
	if s.opts.Flavor == Elasticsearch8 || s.opts.Flavor == Elasticsearch9 {
		return fmt.Appendf(nil, `{"errors":%t,"took":%d,"items":%s}`, errors, ms, itemsJSON)
	}
	return fmt.Appendf(nil, `{"took":%d,"errors":%t,"items":%s}`, ms, errors, itemsJSON)
}

// finish records the request, counts it, and writes the response.
func (s *Server) finish(w http.ResponseWriter, req *Request, rep reply, count func(*Stats)) {
	req.Status = rep.status
	s.mu.Lock()
	s.stats.BulkRequests++
	if rep.status == http.StatusUnauthorized {
		s.stats.Unauthorized++
	}
	if count != nil {
		count(&s.stats)
	}
	s.recordRequest(*req)
	s.mu.Unlock()
	s.write(w, rep)
}

// readBody reads the body, or reports it too large without keeping it.
func readBody(r *http.Request, maxContent int64) (body []byte, tooLarge bool, err error) {
	if r.ContentLength > maxContent {
		_, err = io.Copy(io.Discard, io.LimitReader(r.Body, drainLimit))
		return nil, true, err
	}
	body, err = io.ReadAll(io.LimitReader(r.Body, maxContent+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(body)) > maxContent {
		_, err = io.Copy(io.Discard, io.LimitReader(r.Body, drainLimit))
		return nil, true, err
	}
	return body, false, nil
}

func (s *Server) acceptsContentType(header string) bool {
	mediaType, _, err := mime.ParseMediaType(header)
	if err != nil {
		return false
	}
	switch mediaType {
	case "application/json", "application/x-ndjson":
		return true
	case "application/vnd.elasticsearch+json", "application/vnd.elasticsearch+x-ndjson":
		return s.opts.Flavor == Elasticsearch8 || s.opts.Flavor == Elasticsearch9
	}
	return false
}

// authenticate returns nil when the request carries the credentials the
// server requires, or the 401 response.
func (s *Server) authenticate(r *http.Request) *reply {
	if s.opts.Username == "" && s.opts.APIKey == "" {
		return nil
	}

	header := r.Header.Get("Authorization")
	scheme, credential, _ := strings.Cut(header, " ")
	var fail reply
	switch {
	case header == "":
		fail = authFailure(s.opts.Flavor, "", true)
	case strings.EqualFold(scheme, "Basic"):
		user, password, ok := r.BasicAuth()
		if ok && s.opts.Username != "" && user == s.opts.Username && password == s.opts.Password {
			return nil
		}
		fail = authFailure(s.opts.Flavor, user, false)
	case strings.EqualFold(scheme, "ApiKey"):
		if s.opts.APIKey != "" && credential == s.opts.APIKey {
			return nil
		}
		fail = authFailure(s.opts.Flavor, "", false)
	default:
		fail = authFailure(s.opts.Flavor, "", false)
	}
	return &fail
}

// basicUser returns the user name of basic credentials, or "".
func basicUser(r *http.Request) string {
	user, _, _ := r.BasicAuth()
	return user
}

func methodNotAllowed(r *http.Request, allowed string) reply {
	body := fmt.Sprintf(`{"error":"Incorrect HTTP method for uri [%s] and method [%s], allowed: [%s]","status":405}`, r.URL.Path, r.Method, allowed)
	rep := jsonReply(http.StatusMethodNotAllowed, []byte(body))
	rep.header = http.Header{"Allow": {allowed}}
	return rep
}

func (s *Server) write(w http.ResponseWriter, rep reply) {
	h := w.Header()
	for k, v := range rep.header {
		h[k] = v
	}
	if rep.contentType != "" {
		h.Set("Content-Type", rep.contentType)
	}
	// Elasticsearch 7.14 and later name themselves in every response but
	// 401 and 403; proxies and OpenSearch do not.
	fromProduct := rep.contentType == "application/json"
	if !s.opts.Flavor.isOpenSearch() && fromProduct && rep.status != http.StatusUnauthorized && rep.status != http.StatusForbidden {
		h.Set("X-Elastic-Product", "Elasticsearch")
	}
	h.Set("Content-Length", strconv.Itoa(len(rep.body)))
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

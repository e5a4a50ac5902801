package elasticsearch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
)

// maxResponseBytes bounds how much of a response is read. A bulk response
// takes a few hundred bytes per item, so 500 items fit many times over.
const maxResponseBytes = 32 << 20

// response is a node's HTTP response, read in full.
type response struct {
	node     string // the node's URL, without credentials
	status   int
	body     []byte
	location string // of a redirect
}

// post sends body to the node that responded last. On a connection error or
// a 5xx response it tries each other node in turn, within this one attempt,
// and remembers the first node that responds without a 5xx for the next
// request. Resending to another node is safe because every action is a
// create with an _id.
func (s *Sink) post(ctx context.Context, body []byte) (response, error) {
	n := len(s.endpoints)
	start := int(s.current.Load())
	var lastResponse response
	var lastErr error
	for k := range n {
		i := (start + k) % n
		res, err := s.postTo(ctx, i, body)
		if ctx.Err() != nil {
			return response{}, fmt.Errorf("Elasticsearch request to %s abandoned: %w", s.nodeNames[i], context.Cause(ctx))
		}

		switch {
		case err != nil:
			lastErr = err
		case res.status >= 500:
			lastResponse = res
		default:
			if i != start {
				s.current.Store(int32(i))
				s.log.Info("Elasticsearch sink now sends to another node", "node", s.nodeNames[i])
			}
			return res, nil
		}

		if k < n-1 {
			s.log.Warn("Elasticsearch node failed, trying the next one", "node", s.nodeNames[i], "err", s.failureText(res, err))
		}
	}

	if lastResponse.status != 0 {
		return lastResponse, nil
	}
	s.log.Warn("no Elasticsearch node could be reached, so the alerts will be sent again", "nodes", n, "err", lastErr)
	return response{}, lastErr
}

// postTo sends body to node i within Sink_Timeout and reads the response.
func (s *Sink) postTo(ctx context.Context, i int, body []byte) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	node := s.nodeNames[i]

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoints[i], bytes.NewReader(body))
	if err != nil {
		return response{}, fmt.Errorf("build request for %s: %w", node, err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "runningrat")
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	// Marks the request idempotent, which it is (create with _id), so that
	// net/http resends it when a kept-alive connection turns out closed.
	// An empty value is not sent.
	req.Header["Idempotency-Key"] = nil

	resp, err := s.client.Do(req)
	if err != nil {
		return response{}, s.transportError(ctx, node, err)
	}
	defer resp.Body.Close()

	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return response{}, s.transportError(ctx, node, fmt.Errorf("read response: %w", err))
	}
	if len(data) > maxResponseBytes {
		return response{}, fmt.Errorf("response from %s is larger than %d bytes", node, maxResponseBytes)
	}
	return response{node: node, status: resp.StatusCode, body: data, location: resp.Header.Get("Location")}, nil
}

// transportError names the node and the failure, without url.Error's copy
// of the request URL.
func (s *Sink) transportError(ctx context.Context, node string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var netErr net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return fmt.Errorf("Elasticsearch node %s timed out: no response within Sink_Timeout %s: %w", node, s.cfg.Timeout, err)
	}
	return fmt.Errorf("Elasticsearch node %s failed: %w", node, err)
}

// failureText describes a failed try for the log.
func (s *Sink) failureText(res response, err error) string {
	if err != nil {
		return err.Error()
	}
	return s.scrub(describeResponse(res))
}

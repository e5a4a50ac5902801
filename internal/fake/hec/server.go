// Package hec is a fake Splunk HTTP Event Collector for tests. It listens on
// 127.0.0.1 only and serves the JSON event endpoint, the indexer
// acknowledgement endpoint and the health endpoint as HEC documents them.
// At any time, and concurrently with requests, a test can make it fail the
// way a real HEC or the proxy in front of it fails: busy responses,
// rejected events, oversized bodies, slow responses, lost or late acks,
// outages.
//
// It is plain Go so that tests of other packages, and long fault-injection
// runs, can drive it too.
package hec

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Options configures a Server. The zero value is a plain-HTTP HEC whose
// token has indexer acknowledgement off and accepts any index.
type Options struct {
	// Token is the one valid HEC token. When empty, Start generates a
	// random one; read it with Server.Token.
	Token string
	// Ack turns indexer acknowledgement on for the token. As in HEC, every
	// event and ack request then needs a channel, and each accepted event
	// request gets an ackId in its response.
	Ack bool
	// TLS serves HTTPS with a self-signed certificate for 127.0.0.1, whose
	// PEM file Server.CAFile returns.
	TLS bool
	// Indexes is the token's allow list. An event that names another
	// index is rejected with code 7 (incorrect index). Empty allows any.
	Indexes []string
	// MaxBodyBytes makes the server respond 413 to a request body larger
	// than this, as HEC's max_content_length does. Zero means no limit.
	MaxBodyBytes int64
}

// DownMode is the behavior of a Server while it is down.
type DownMode int

const (
	// Refuse closes the listener and every connection, so that connecting
	// fails with "connection refused".
	Refuse DownMode = iota + 1
	// Hang keeps accepting connections and reading requests but never
	// responds, as a stuck server or a black-holing proxy does.
	Hang
)

// Never is the ack delay that keeps every ack false.
const Never time.Duration = -1

// maxRequestLog bounds the request records that Requests returns, so that a
// long fault-injection run does not grow without limit.
const maxRequestLog = 1024

// Server is a running fake HEC. Its methods are safe for concurrent use.
type Server struct {
	opts   Options
	caFile string
	tmpDir string // removed by Close when Start created it

	mu     sync.Mutex
	hs     *httptest.Server
	addr   string
	closed bool
	down   DownMode
	// wake is closed when waiting handlers (delayed or hung) must give up:
	// at Down(Refuse), Up and Close.
	wake chan struct{}

	token         string
	tokenDisabled bool
	faults        faults
	ackDelay      time.Duration
	channels      map[string]*channel

	events   []Event
	perAlert map[string]int
	requests []Request
	counts   Counts
}

// Start starts a fake HEC on 127.0.0.1 with a free port. The caller must
// Close it.
func Start(opts Options) (*Server, error) {
	dir, err := os.MkdirTemp("", "fake-hec-")
	if err != nil {
		return nil, err
	}
	s, err := start(opts, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.tmpDir = dir
	return s, nil
}

// New starts a fake HEC for one test and closes it when the test ends.
func New(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := start(opts, tb.TempDir())
	if err != nil {
		tb.Fatalf("start fake HEC: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

func start(opts Options, dir string) (*Server, error) {
	s := &Server{
		opts:     opts,
		token:    opts.Token,
		channels: map[string]*channel{},
		perAlert: map[string]int{},
		wake:     make(chan struct{}),
		faults:   faults{rejectAt: -1, maxBody: opts.MaxBodyBytes},
	}
	if s.token == "" {
		s.token = randomToken()
	}

	if err := s.listen("127.0.0.1:0"); err != nil {
		return nil, err
	}

	if opts.TLS {
		s.caFile = filepath.Join(dir, "fake-hec-ca.pem")
		block := &pem.Block{Type: "CERTIFICATE", Bytes: s.hs.Certificate().Raw}
		if err := os.WriteFile(s.caFile, pem.EncodeToMemory(block), 0o600); err != nil {
			s.Close()
			return nil, fmt.Errorf("write CA file: %w", err)
		}
	}
	return s, nil
}

// listen serves on addr. The caller holds s.mu, or no other goroutine can
// see s yet.
func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	hs := httptest.NewUnstartedServer(s.routes())
	// Tests cause TLS handshake failures and aborted requests on
	// purpose; the server's log of them is noise.
	hs.Config.ErrorLog = log.New(io.Discard, "", 0)
	hs.Listener.Close()
	hs.Listener = ln
	if s.opts.TLS {
		// httptest serves the same built-in certificate on every start,
		// so the CA file stays valid across Down and Up.
		hs.StartTLS()
	} else {
		hs.Start()
	}
	s.hs = hs
	s.addr = ln.Addr().String()
	return nil
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// URL returns the base URL, such as http://127.0.0.1:41234, without a path.
// It stays the same across Down and Up.
func (s *Server) URL() string {
	scheme := "http"
	if s.opts.TLS {
		scheme = "https"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return scheme + "://" + s.addr
}

// CAFile returns the path of the PEM file of the server's certificate, or
// "" without TLS.
func (s *Server) CAFile() string {
	return s.caFile
}

// Token returns the token the server accepts now.
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// SetToken replaces the valid token, as an admin who rotates it does.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// DisableToken makes requests with the valid token fail with 403 code 1
// (token disabled) until it is called with false.
func (s *Server) DisableToken(disabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenDisabled = disabled
}

// Down takes the server down in the given mode until Up. Requests in
// progress are aborted. It fails only when a server that refused
// connections cannot listen again to hang.
func (s *Server) Down(mode DownMode) error {
	s.mu.Lock()
	if s.closed || s.down == mode {
		s.mu.Unlock()
		return nil
	}
	previous := s.down
	s.down = mode
	hs := s.hs
	s.wakeWaitersLocked()

	if previous == Refuse {
		// Hanging needs a listener again.
		err := s.listenAgainLocked()
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()

	if mode == Refuse {
		hs.CloseClientConnections()
		hs.Close()
	}
	return nil
}

// Up brings the server back on the same address.
func (s *Server) Up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.down == 0 {
		return nil
	}

	if s.down == Refuse {
		if err := s.listenAgainLocked(); err != nil {
			return err
		}
	}
	s.down = 0
	s.wakeWaitersLocked()
	return nil
}

// listenAgainLocked listens on the old address again. The port may stay
// busy for a moment after Close, so it tries a few times, bounded in count
// and time.
func (s *Server) listenAgainLocked() error {
	var err error
	for range 50 {
		if err = s.listen(s.addr); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// wakeWaitersLocked releases every handler that waits on s.wake.
func (s *Server) wakeWaitersLocked() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// Close stops the server and removes its files. It is safe to call twice.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	refusing := s.down == Refuse
	hs := s.hs
	s.wakeWaitersLocked()
	s.mu.Unlock()

	if !refusing {
		hs.CloseClientConnections()
		hs.Close()
	}
	if s.tmpDir != "" {
		os.RemoveAll(s.tmpDir)
	}
}

// errWoken is returned by wait when the server went down, came back up or
// closed.
var errWoken = errors.New("fake HEC changed state")

// wait blocks for d, or until the server goes down, comes back up or
// closes. d < 0 waits without a time limit. Unless followClient is set, a
// client that gives up does not end the wait, because a slow HEC still
// indexes what it read after the client timed out.
func (s *Server) wait(r *http.Request, d time.Duration, followClient bool) error {
	s.mu.Lock()
	wake := s.wake
	s.mu.Unlock()

	var timer <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	var clientGone <-chan struct{}
	if followClient {
		clientGone = r.Context().Done()
	}
	select {
	case <-timer:
		return nil
	case <-wake:
		return errWoken
	case <-clientGone:
		return r.Context().Err()
	}
}

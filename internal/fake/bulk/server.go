// Package bulk is a fake Elasticsearch and OpenSearch server for tests. It
// parses the _bulk API's NDJSON as Elasticsearch does, stores documents by
// index and _id, and responds in the shape of Elasticsearch 7, 8 or 9 or of
// OpenSearch 2, including their partial failures. While it serves requests,
// a test can tell it to fail whole requests, fail chosen items, reject large
// bodies, respond slowly, or go down and come back on the same address.
//
// It listens on 127.0.0.1 only and uses no testing package, so that any test
// or long-running fault-injection program can drive it.
package bulk

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
)

// Flavor is the product and major version whose responses the server copies.
type Flavor int

const (
	// Elasticsearch8 is the default.
	Elasticsearch8 Flavor = iota
	Elasticsearch7
	Elasticsearch9
	OpenSearch2
)

func (f Flavor) String() string {
	switch f {
	case Elasticsearch7:
		return "Elasticsearch 7"
	case Elasticsearch9:
		return "Elasticsearch 9"
	case OpenSearch2:
		return "OpenSearch 2"
	}
	return "Elasticsearch 8"
}

func (f Flavor) isOpenSearch() bool { return f == OpenSearch2 }

// Options configure a Server.
type Options struct {
	Flavor Flavor
	// TLS serves HTTPS with the certificate of net/http/httptest, which is
	// valid for 127.0.0.1. CertificatePEM and WriteCAFile give it to the
	// client as a CA to trust.
	TLS bool
	// Username and Password, when Username is set, are the HTTP basic
	// credentials the server requires.
	Username string
	Password string
	// APIKey, when set, is the encoded key the server requires in
	// "Authorization: ApiKey <APIKey>". With Username also set, either
	// credential is accepted. OpenSearch 2's security plugin has no API
	// keys, but the fake accepts one in every flavor.
	APIKey string
}

// DefaultMaxContentLength is Elasticsearch's default http.max_content_length:
// a larger request body gets 413.
const DefaultMaxContentLength = 100 << 20

// Server is a running fake. All its methods are safe for concurrent use,
// also while requests are being served.
type Server struct {
	opts    Options
	addr    string
	handler http.Handler

	// life guards the listening state. It is never held while waiting for
	// handlers, which take mu.
	life sync.Mutex
	ts   *httptest.Server // nil while down
	down chan struct{}    // closed when the server goes down
	cert *x509.Certificate

	mu       sync.Mutex
	faults   faults
	store    store
	stats    Stats
	requests []Request
}

// Start starts a server on 127.0.0.1 with a free port.
func Start(opts Options) (*Server, error) {
	if opts.Flavor < Elasticsearch8 || opts.Flavor > OpenSearch2 {
		return nil, fmt.Errorf("invalid flavor %d", opts.Flavor)
	}
	if opts.Username == "" && opts.Password != "" {
		return nil, errors.New("a Password needs a Username")
	}

	s := &Server{opts: opts}
	s.faults = newFaults()
	s.store = newStore()
	s.handler = http.HandlerFunc(s.serveHTTP)
	if err := s.listen("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}

	ts := httptest.NewUnstartedServer(s.handler)
	ts.Listener.Close()
	ts.Listener = ln
	// Clients that distrust the certificate or hang up are part of the
	// tests; the server's complaints about them would only be noise.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	if s.opts.TLS {
		ts.StartTLS()
	} else {
		ts.Start()
	}

	// addr and cert are set once, at Start, so that URL and CertificatePEM
	// read them without a lock. Up listens on the same address, and
	// httptest serves the same certificate every time.
	if s.addr == "" {
		s.addr = ln.Addr().String()
		if s.opts.TLS {
			s.cert = ts.Certificate()
		}
	}
	s.ts = ts
	s.down = make(chan struct{})
	return nil
}

// URL returns the base URL, such as http://127.0.0.1:41234, which stays the
// same across Down and Up.
func (s *Server) URL() string {
	if s.opts.TLS {
		return "https://" + s.addr
	}
	return "http://" + s.addr
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// Flavor returns the product the server copies.
func (s *Server) Flavor() Flavor { return s.opts.Flavor }

// CertificatePEM returns the server's certificate in PEM, to be trusted as
// a CA, or nil without TLS.
func (s *Server) CertificatePEM() []byte {
	if s.cert == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.cert.Raw})
}

// WriteCAFile writes CertificatePEM to path.
func (s *Server) WriteCAFile(path string) error {
	pemBytes := s.CertificatePEM()
	if pemBytes == nil {
		return errors.New("the server has no certificate: start it with TLS")
	}
	return os.WriteFile(path, pemBytes, 0o600)
}

// Down stops listening: new connections are refused, and requests in
// progress are cut off without a response, as when a node crashes. The
// stored documents are kept.
func (s *Server) Down() {
	s.life.Lock()
	ts := s.ts
	if ts != nil {
		s.ts = nil
		close(s.down)
	}
	s.life.Unlock()

	if ts != nil {
		ts.CloseClientConnections()
		ts.Close()
	}
}

// Up listens again on the same address after Down. It does nothing when
// the server is up.
func (s *Server) Up() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.ts != nil {
		return nil
	}
	return s.listen(s.addr)
}

// IsUp reports whether the server is listening.
func (s *Server) IsUp() bool {
	s.life.Lock()
	defer s.life.Unlock()
	return s.ts != nil
}

// Close stops the server for good.
func (s *Server) Close() {
	s.Down()
}

// downSignal returns the channel that closes when the server goes down, or
// a closed channel while it is down.
func (s *Server) downSignal() <-chan struct{} {
	s.life.Lock()
	defer s.life.Unlock()
	return s.down
}

// Package forwardpeer is a Fluent forward protocol v1 input for tests: it
// listens on loopback, decodes the four carrier modes, acks chunks, runs
// the HELO/PING/PONG handshake when given a shared key, and records what it
// received. Tests can make it fail the way a real input does, at any time
// and from any goroutine. It drops a connection before the ack, acks late
// or never, rejects the key, or goes down and comes back on the same
// address.
package forwardpeer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// Flavor picks whose forward input the peer imitates where Fluent Bit and
// Fluentd differ.
type Flavor int

const (
	// FluentBit sends the HELO nonce and auth salt as str holding raw
	// bytes, always sends an auth salt, and closes the connection without
	// PONG on a wrong shared key, as in_forward of Fluent Bit 5 does.
	FluentBit Flavor = iota
	// Fluentd sends the nonce and salt as bin, an empty auth salt when it
	// checks no users, and a PONG with auth_result false and reason
	// ReasonSharedKey on a wrong shared key.
	Fluentd
)

// Options configures a peer.
type Options struct {
	// SharedKey turns on the handshake.
	SharedKey string
	// Users maps user names to passwords; the handshake checks them when
	// SharedKey is set.
	Users map[string]string
	// Hostname is the server_hostname of PONG; "forwardpeer" when empty.
	Hostname string
	// TLS, when set, makes the peer serve TLS.
	TLS *tls.Config
	// UnixSocket, when set, is the path the peer listens on instead of
	// 127.0.0.1.
	UnixSocket string
	// DenyKeepalive makes the HELO carry keepalive false and the peer
	// close each connection after its first ack, as Fluentd does with
	// deny_keepalive. It needs SharedKey, since only HELO carries it.
	DenyKeepalive bool
	Flavor        Flavor
	Log           *slog.Logger
}

// Reply is the peer's action after it stored the records of a message.
// The zero Reply acks at once.
type Reply struct {
	// Drop closes the connection without an ack.
	Drop bool
	// NoAck sends no ack and keeps reading.
	NoAck bool
	// Delay waits this long before the ack.
	Delay time.Duration
}

// faults are the failures the peer is set to show.
type faults struct {
	dropNext  int
	ackDelay  time.Duration
	noAck     bool
	rejectKey bool
	badDigest bool
	reply     func(Message) Reply
}

// Peer is a running fake forward input.
type Peer struct {
	opts    Options
	network string
	addr    string
	log     *slog.Logger
	wg      sync.WaitGroup

	mu     sync.Mutex
	ln     net.Listener // nil while down
	conns  map[net.Conn]struct{}
	down   chan struct{} // closed when the peer goes down, to end ack delays
	closed bool
	faults faults

	messages   []Message
	records    []Record
	counts     map[string]int
	accepted   int
	handshakes int
	rejections int
	changed    chan struct{} // closed and replaced when records arrive
}

// Start listens on 127.0.0.1 on a free port, or on opts.UnixSocket.
func Start(opts Options) (*Peer, error) {
	if opts.Hostname == "" {
		opts.Hostname = "forwardpeer"
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	p := &Peer{
		opts:    opts,
		network: "tcp",
		addr:    "127.0.0.1:0",
		log:     opts.Log.With("peer", "forward"),
		conns:   map[net.Conn]struct{}{},
		counts:  map[string]int{},
		changed: make(chan struct{}),
	}
	if opts.UnixSocket != "" {
		p.network, p.addr = "unix", opts.UnixSocket
	}
	if err := p.listen(); err != nil {
		return nil, err
	}
	p.addr = p.ln.Addr().String()
	return p, nil
}

// Addr returns host:port, or the socket path.
func (p *Peer) Addr() string {
	return p.addr
}

// ForwardAddress returns the address in the form of the sink's
// Forward_Address: host:port, or unix:///path.
func (p *Peer) ForwardAddress() string {
	if p.network == "unix" {
		return "unix://" + p.addr
	}
	return p.addr
}

// listen opens the listener on p.addr and starts accepting.
func (p *Peer) listen() error {
	ln, err := net.Listen(p.network, p.addr)
	if err != nil {
		return fmt.Errorf("fake forward input: listen on %s: %w", p.addr, err)
	}
	if p.opts.TLS != nil {
		ln = tls.NewListener(ln, p.opts.TLS)
	}

	p.mu.Lock()
	p.ln = ln
	p.down = make(chan struct{})
	down := p.down
	p.mu.Unlock()

	p.wg.Add(1)
	go p.serve(ln, down)
	return nil
}

func (p *Peer) serve(ln net.Listener, down chan struct{}) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}

		p.mu.Lock()
		if p.ln != ln {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.conns[c] = struct{}{}
		p.accepted++
		p.wg.Add(1)
		p.mu.Unlock()

		go func() {
			defer p.wg.Done()
			err := p.handle(c, down)
			p.log.Debug("connection closed", "remote", c.RemoteAddr().String(), "reason", err)

			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
			c.Close()
		}()
	}
}

// handle serves one connection until it fails or the peer ends it.
func (p *Peer) handle(c net.Conn, down chan struct{}) error {
	r := msgp.NewReader(c)
	if p.opts.SharedKey != "" {
		if err := p.handshake(c, r); err != nil {
			return err
		}
	}

	for {
		v, err := r.ReadIntf()
		if err != nil {
			return err
		}
		if v == nil {
			continue // a heartbeat, which the protocol allows
		}
		m, records, err := decodeMessage(v)
		if err != nil {
			p.log.Warn("invalid forward message; closing the connection", "error", err)
			return err
		}

		reply := p.store(m, records)
		switch {
		case reply.Drop:
			return errors.New("told to drop the connection before the ack")
		case m.Chunk == "" || reply.NoAck:
			continue
		case reply.Delay > 0:
			select {
			case <-time.After(reply.Delay):
			case <-down:
				return errors.New("went down while delaying an ack")
			}
		}

		ack := msgp.AppendMapHeader(nil, 1)
		ack = msgp.AppendString(ack, "ack")
		ack = msgp.AppendString(ack, m.Chunk)
		if _, err := c.Write(ack); err != nil {
			return err
		}
		if p.opts.DenyKeepalive {
			return errors.New("keepalive is denied: one message per connection")
		}
	}
}

// store keeps a message and its records, and returns what to do next.
func (p *Peer) store(m Message, records []Record) Reply {
	p.mu.Lock()
	defer p.mu.Unlock()

	p.messages = append(p.messages, m)
	p.records = append(p.records, records...)
	for _, r := range records {
		if r.AlertID != "" {
			p.counts[r.AlertID]++
		}
	}
	close(p.changed)
	p.changed = make(chan struct{})

	f := &p.faults
	switch {
	case f.dropNext > 0:
		f.dropNext--
		return Reply{Drop: true}
	case f.reply != nil:
		return f.reply(m)
	}
	return Reply{NoAck: f.noAck, Delay: f.ackDelay}
}

func (p *Peer) faultsNow() faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults
}

func (p *Peer) countHandshake() {
	p.mu.Lock()
	p.handshakes++
	p.mu.Unlock()
}

func (p *Peer) countRejection() {
	p.mu.Lock()
	p.rejections++
	p.mu.Unlock()
}

// DropBeforeAck makes the peer close the connection after it stored each
// of the next n messages and before it acks them, so the client sees a
// lost ack for records that did arrive.
func (p *Peer) DropBeforeAck(n int) {
	p.mu.Lock()
	p.faults.dropNext = n
	p.mu.Unlock()
}

// SetAckDelay makes the peer wait d before each ack; 0 acks at once.
func (p *Peer) SetAckDelay(d time.Duration) {
	p.mu.Lock()
	p.faults.ackDelay = d
	p.mu.Unlock()
}

// SetNoAck makes the peer store messages and never ack them, while the
// connection stays open.
func (p *Peer) SetNoAck(on bool) {
	p.mu.Lock()
	p.faults.noAck = on
	p.mu.Unlock()
}

// SetRejectKey makes the handshake reject every client's shared key, as
// if it were wrong.
func (p *Peer) SetRejectKey(on bool) {
	p.mu.Lock()
	p.faults.rejectKey = on
	p.mu.Unlock()
}

// SetBadDigest makes the PONG carry a digest made with another key, as an
// impostor would.
func (p *Peer) SetBadDigest(on bool) {
	p.mu.Lock()
	p.faults.badDigest = on
	p.mu.Unlock()
}

// SetReplyFunc makes f decide what happens after each message is stored;
// nil goes back to SetAckDelay and SetNoAck. DropBeforeAck still comes
// first. f runs with the peer's lock held, so it must not call the peer.
func (p *Peer) SetReplyFunc(f func(Message) Reply) {
	p.mu.Lock()
	p.faults.reply = f
	p.mu.Unlock()
}

// Down closes the listener and every connection, as a stopped input does,
// and waits until they are closed. Clients get connection refused until Up.
func (p *Peer) Down() {
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		return
	}
	p.ln.Close()
	p.ln = nil
	close(p.down)
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()

	p.wg.Wait()
}

// Up listens again on the address of Start after Down.
func (p *Peer) Up() error {
	p.mu.Lock()
	up, closed := p.ln != nil, p.closed
	p.mu.Unlock()
	if closed {
		return errors.New("fake forward input: Up after Close")
	}
	if up {
		return nil
	}

	// The port can stay busy for a moment after Down; a bounded wait
	// covers that.
	var err error
	for range 100 {
		if err = p.listen(); err == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

// Close stops the peer for good.
func (p *Peer) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Down()
	return nil
}

// Messages returns the messages received so far, in order.
func (p *Peer) Messages() []Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Message(nil), p.messages...)
}

// Records returns the records received so far, in order. Their Fields
// maps are shared: do not change them.
func (p *Peer) Records() []Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Record(nil), p.records...)
}

// Count returns how many records carried alertID.
func (p *Peer) Count(alertID string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[alertID]
}

// Counts returns how many records carried each alert id.
func (p *Peer) Counts() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.counts)
}

// Connections returns how many connections the peer accepted.
func (p *Peer) Connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Handshakes returns how many handshakes succeeded and how many the peer
// rejected.
func (p *Peer) Handshakes() (ok, rejected int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.handshakes, p.rejections
}

// Reset clears the messages, records and counts received so far.
func (p *Peer) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.messages, p.records = nil, nil
	p.counts = map[string]int{}
}

// WaitRecords waits until the peer holds at least n records, or timeout
// passes, and reports whether it got them. It serves clients that do not
// wait for acks.
func (p *Peer) WaitRecords(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		have, changed := len(p.records), p.changed
		p.mu.Unlock()
		if have >= n {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		}
	}
}

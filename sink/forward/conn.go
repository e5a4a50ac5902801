package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/tinylib/msgp/msgp"
)

// maxReplyBytes bounds one message from the peer. A HELO, PONG or ack is a
// few hundred bytes, so more means that the peer is not a forward input.
const maxReplyBytes = 64 << 10

// errSharedKeyRequired reports a HELO from a peer that the sink does not
// send a handshake to.
var errSharedKeyRequired = errors.New("the forward input requires a handshake (it sent HELO): set Forward_Shared_Key to its shared_key")

// conn is one connection to a forward input, past the handshake if there
// is one.
type conn struct {
	net.Conn
	pending []byte // bytes read from the peer and not yet decoded
	// keepalive is false when the peer's HELO requests one connection per
	// message.
	keepalive bool
}

// dial connects to the peer, with TLS when tlsConfig is set. When
// tlsConfig has no ServerName, the host of address is checked against the
// certificate.
func dial(ctx context.Context, network, address string, tlsConfig *tls.Config) (*conn, error) {
	var d net.Dialer
	var c net.Conn
	var err error
	if tlsConfig != nil {
		td := tls.Dialer{NetDialer: &d, Config: tlsConfig}
		c, err = td.DialContext(ctx, network, address)
	} else {
		c, err = d.DialContext(ctx, network, address)
	}
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, keepalive: true}, nil
}

// within runs op with the connection's deadline at deadline, or at ctx's
// deadline if that is sooner, and breaks op off when ctx ends. After an
// error the connection must be closed.
func (c *conn) within(ctx context.Context, deadline time.Time, op func() error) error {
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.SetDeadline(deadline); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		c.SetDeadline(time.Unix(1, 0)) // in the past: blocked reads and writes return at once
	})

	err := op()
	if !stop() {
		// ctx ended while op ran, and its deadline may still be set after
		// this returns, so the connection is done for.
		if err == nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("%w: %v", context.Cause(ctx), err)
	}
	return err
}

// readObject reads one msgpack object from the peer and returns its bytes,
// valid until the next read.
func (c *conn) readObject() ([]byte, error) {
	var buf [4096]byte
	for {
		if len(c.pending) > 0 {
			rest, err := msgp.Skip(c.pending)
			if err == nil {
				n := len(c.pending) - len(rest)
				obj := c.pending[:n:n]
				c.pending = rest
				return obj, nil
			}
			if !errors.Is(err, msgp.ErrShortBytes) {
				return nil, fmt.Errorf("invalid msgpack from the forward input: %w", err)
			}
		}
		if len(c.pending) > maxReplyBytes {
			return nil, fmt.Errorf("the forward input sent a reply of more than %d bytes: check that Forward_Address is a forward input", maxReplyBytes)
		}

		n, err := c.Conn.Read(buf[:])
		c.pending = append(c.pending, buf[:n]...)
		if err != nil && n == 0 {
			return nil, err
		}
	}
}

// socketState is the state of an idle socket, as a non-blocking peek sees it.
type socketState int

const (
	socketUnknown  socketState = iota // the platform offers no look
	socketIdle                        // open, with nothing to read
	socketReadable                    // open, with bytes to read
	socketClosed                      // closed by the peer, or failed
)

// checkIdle reports whether the peer closed the connection, or sent
// something, while it was idle. A peer that restarted leaves connections
// that accept writes and lose them, so reusing one would cost a retry.
func (c *conn) checkIdle() error {
	raw := c.Conn
	if tc, ok := raw.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	state, err := peekSocket(raw)
	switch state {
	case socketIdle:
		return nil
	case socketClosed:
		if err == nil {
			err = io.EOF
		}
		return err
	}

	// Bytes are waiting, or the platform cannot tell. Over TLS they may
	// be a session ticket, which the TLS layer consumes, so read them
	// through the connection. A deadline already in the past would fail
	// the read before it looks at the socket, so give it a moment.
	if err := c.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		return err
	}
	var buf [512]byte
	n, err := c.Conn.Read(buf[:])
	if n > 0 {
		c.pending = append(c.pending, buf[:n]...)
		if obj, err := c.readObjectBuffered(); err == nil && isHelo(obj) {
			return errSharedKeyRequired
		}
		return fmt.Errorf("the forward input sent %d unexpected bytes on an idle connection", n)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if err == nil {
		return errors.New("the forward input returned nothing from a read on an idle connection")
	}
	return err
}

// readObjectBuffered decodes an object from the bytes already read, without
// reading more.
func (c *conn) readObjectBuffered() ([]byte, error) {
	rest, err := msgp.Skip(c.pending)
	if err != nil {
		return nil, err
	}
	return c.pending[:len(c.pending)-len(rest)], nil
}

// readAck waits for the ack of chunk.
func (c *conn) readAck(chunk string) error {
	obj, err := c.readObject()
	if err != nil {
		return err
	}
	if isHelo(obj) {
		return errSharedKeyRequired
	}

	n, rest, err := msgp.ReadMapHeaderBytes(obj)
	if err != nil {
		return fmt.Errorf("invalid reply from the forward input: expected {\"ack\": chunk}, got msgpack %s", msgp.NextType(obj))
	}
	for range n {
		var key []byte
		key, rest, err = msgp.ReadMapKeyZC(rest)
		if err != nil {
			return fmt.Errorf("invalid ack from the forward input: %w", err)
		}
		if string(key) != "ack" {
			if rest, err = msgp.Skip(rest); err != nil {
				return fmt.Errorf("invalid ack from the forward input: %w", err)
			}
			continue
		}
		got, _, err := readStrOrBin(rest)
		if err != nil {
			return fmt.Errorf("invalid ack from the forward input: %w", err)
		}
		if string(got) != chunk {
			return fmt.Errorf("the forward input acked chunk %q while chunk %q was waiting", got, chunk)
		}
		return nil
	}
	return errors.New("invalid reply from the forward input: a map without \"ack\"")
}

// isHelo reports whether obj is a HELO message, ["HELO", options].
func isHelo(obj []byte) bool {
	n, rest, err := msgp.ReadArrayHeaderBytes(obj)
	if err != nil || n != 2 {
		return false
	}
	kind, _, err := msgp.ReadStringZC(rest)
	return err == nil && string(kind) == "HELO"
}

// readStrOrBin reads a str or a bin, the two forms the protocol allows for
// binary strings such as a nonce.
func readStrOrBin(b []byte) (v []byte, rest []byte, err error) {
	if msgp.NextType(b) == msgp.BinType {
		return msgp.ReadBytesZC(b)
	}
	return msgp.ReadStringZC(b)
}

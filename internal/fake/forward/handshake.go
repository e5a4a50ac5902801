package forwardpeer

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/tinylib/msgp/msgp"
)

// Reasons the peer puts in a rejecting PONG.
const (
	ReasonSharedKey = "shared_key mismatch"
	ReasonUser      = "username/password mismatch"
)

// ping holds the fields of a client's PING.
type ping struct {
	hostname, salt, digest, username, password string
}

// handshake runs the server side of HELO/PING/PONG. It returns an error
// when the connection must be closed: a rejected client, or a broken one.
func (p *Peer) handshake(w io.Writer, r *msgp.Reader) error {
	nonce := randomBytes()
	auth := randomBytes()
	if p.opts.Flavor == Fluentd && len(p.opts.Users) == 0 {
		auth = nil // Fluentd sends an empty auth salt when it checks no users
	}
	if _, err := w.Write(p.appendHelo(nil, nonce, auth)); err != nil {
		return fmt.Errorf("send HELO: %w", err)
	}

	v, err := r.ReadIntf()
	if err != nil {
		return fmt.Errorf("read PING: %w", err)
	}
	pi, err := parsePing(v)
	if err != nil {
		return err
	}

	faults := p.faultsNow()
	want := hexDigest(pi.salt, pi.hostname, string(nonce), p.opts.SharedKey)
	if faults.rejectKey || !equal(want, pi.digest) {
		p.countRejection()
		if p.opts.Flavor == FluentBit {
			// Fluent Bit's in_forward closes without PONG on a wrong key.
			return errors.New("rejected the shared key, closing without PONG")
		}
		w.Write(appendPong(nil, false, ReasonSharedKey, "", ""))
		return errors.New("rejected the shared key")
	}

	if len(p.opts.Users) > 0 {
		password, known := p.opts.Users[pi.username]
		if !known || !equal(hexDigest(string(auth), pi.username, password), pi.password) {
			p.countRejection()
			w.Write(appendPong(nil, false, ReasonUser, "", ""))
			return fmt.Errorf("rejected user %q", pi.username)
		}
	}

	key := p.opts.SharedKey
	if faults.badDigest {
		key += "-not-the-key"
	}
	digest := hexDigest(pi.salt, p.opts.Hostname, string(nonce), key)
	if _, err := w.Write(appendPong(nil, true, "", p.opts.Hostname, digest)); err != nil {
		return fmt.Errorf("send PONG: %w", err)
	}
	p.countHandshake()
	return nil
}

// appendHelo appends ["HELO", {nonce, auth, keepalive}]. Fluent Bit sends
// the nonce and the salt as str holding raw bytes, and no keepalive.
// Fluentd sends them as bin, and so does the peer when it denies keepalive.
func (p *Peer) appendHelo(dst []byte, nonce, auth []byte) []byte {
	dst = msgp.AppendArrayHeader(dst, 2)
	dst = msgp.AppendString(dst, "HELO")
	if p.opts.Flavor == FluentBit && !p.opts.DenyKeepalive {
		dst = msgp.AppendMapHeader(dst, 2)
		dst = msgp.AppendString(dst, "nonce")
		dst = msgp.AppendStringFromBytes(dst, nonce)
		dst = msgp.AppendString(dst, "auth")
		return msgp.AppendStringFromBytes(dst, auth)
	}
	dst = msgp.AppendMapHeader(dst, 3)
	dst = msgp.AppendString(dst, "nonce")
	dst = msgp.AppendBytes(dst, nonce)
	dst = msgp.AppendString(dst, "auth")
	if len(auth) == 0 {
		dst = msgp.AppendString(dst, "")
	} else {
		dst = msgp.AppendBytes(dst, auth)
	}
	dst = msgp.AppendString(dst, "keepalive")
	return msgp.AppendBool(dst, !p.opts.DenyKeepalive)
}

func appendPong(dst []byte, ok bool, reason, hostname, digest string) []byte {
	dst = msgp.AppendArrayHeader(dst, 5)
	dst = msgp.AppendString(dst, "PONG")
	dst = msgp.AppendBool(dst, ok)
	dst = msgp.AppendString(dst, reason)
	dst = msgp.AppendString(dst, hostname)
	return msgp.AppendString(dst, digest)
}

// parsePing checks a PING as strictly as Fluent Bit's in_forward does: six
// elements, every one a str.
func parsePing(v any) (ping, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) != 6 {
		return ping{}, fmt.Errorf("invalid PING: expected an array of 6, got %T", v)
	}
	var s [6]string
	for i, e := range arr {
		if s[i], ok = e.(string); !ok {
			return ping{}, fmt.Errorf("invalid PING: element %d is %T, not str", i, e)
		}
	}
	if s[0] != "PING" {
		return ping{}, fmt.Errorf("invalid PING: first element %q", s[0])
	}
	return ping{hostname: s[1], salt: s[2], digest: s[3], username: s[4], password: s[5]}, nil
}

func hexDigest(parts ...string) string {
	h := sha512.New()
	for _, s := range parts {
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// randomBytes returns 16 random bytes, the size of Fluent Bit's nonce and
// salt.
func randomBytes() []byte {
	b := make([]byte, 16)
	rand.Read(b) // crypto/rand.Read never returns an error since Go 1.24; it crashes instead
	return b
}

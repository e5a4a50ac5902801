package forward

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tinylib/msgp/msgp"
)

// helo holds the options of the server's HELO.
type helo struct {
	nonce []byte
	// auth is the salt of the user digest; it is empty when the server
	// checks no users. Fluent Bit sends one either way.
	auth      []byte
	keepalive bool
}

// pong is the server's reply to PING.
type pong struct {
	ok       bool
	reason   string
	hostname string
	digest   string
}

// rejectedError is a PONG with auth_result false. Its reason is the server's
// own text, which names no secret.
type rejectedError struct {
	reason string
}

func (e *rejectedError) Error() string {
	return fmt.Sprintf("the forward input rejected the handshake with reason %q: check Forward_Shared_Key, Forward_Username and Forward_Password against its shared_key and users", e.reason)
}

// handshake runs the client side of the shared-key handshake: it reads
// HELO, sends PING, reads PONG and checks that the server's digest proves
// it holds the same shared key. The connection's deadline must be set.
func handshake(c *conn, s *settings) error {
	obj, err := c.readObject()
	if err != nil {
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("no HELO from the forward input within Sink_Timeout: if it has no shared_key, remove Forward_Shared_Key (%w)", err)
		case errors.Is(err, io.EOF):
			return fmt.Errorf("the forward input closed the connection before HELO (%w)", err)
		}
		return fmt.Errorf("read HELO: %w", err)
	}
	h, err := parseHelo(obj)
	if err != nil {
		return err
	}

	salt, err := newSalt()
	if err != nil {
		return err
	}
	if _, err := c.Write(appendPing(nil, s, h, salt)); err != nil {
		return fmt.Errorf("send PING: %w", err)
	}

	obj, err = c.readObject()
	if err != nil {
		if errors.Is(err, io.EOF) {
			// Fluent Bit's in_forward closes without PONG when the
			// shared key differs; Fluentd sends PONG with a reason.
			return fmt.Errorf("the forward input closed the connection after PING without PONG, as Fluent Bit does when the shared key differs: check Forward_Shared_Key (%w)", err)
		}
		return fmt.Errorf("read PONG: %w", err)
	}
	p, err := parsePong(obj)
	if err != nil {
		return err
	}
	if !p.ok {
		return &rejectedError{reason: p.reason}
	}

	want := hexDigest([]byte(salt), []byte(p.hostname), h.nonce, []byte(s.sharedKey))
	if subtle.ConstantTimeCompare([]byte(want), []byte(p.digest)) != 1 {
		return fmt.Errorf("invalid PONG digest from forward input %q: it does not match Forward_Shared_Key, so the input has another shared key or is not the input you meant", p.hostname)
	}
	c.keepalive = h.keepalive
	return nil
}

// newSalt returns the shared_key_salt of a PING: 16 random bytes in hex, as
// Fluentd's out_forward makes it. Fluent Bit's in_forward only accepts it as
// a str, and hex keeps that str valid UTF-8.
func newSalt() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate the PING salt: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// appendPing appends ["PING", self_hostname, shared_key_salt,
// sha512_hex(salt + self_hostname + nonce + shared_key), username,
// sha512_hex(auth + username + password)]. The last two are empty strings
// unless the server sent an auth salt and a username is configured. Every
// field is a str, because Fluent Bit's in_forward rejects anything else.
func appendPing(dst []byte, s *settings, h helo, salt string) []byte {
	digest := hexDigest([]byte(salt), []byte(s.hostname), h.nonce, []byte(s.sharedKey))
	username, password := "", ""
	if len(h.auth) > 0 && s.username != "" {
		username = s.username
		password = hexDigest(h.auth, []byte(s.username), []byte(s.password))
	}

	dst = msgp.AppendArrayHeader(dst, 6)
	dst = msgp.AppendString(dst, "PING")
	dst = msgp.AppendString(dst, s.hostname)
	dst = msgp.AppendString(dst, salt)
	dst = msgp.AppendString(dst, digest)
	dst = msgp.AppendString(dst, username)
	return msgp.AppendString(dst, password)
}

func hexDigest(parts ...[]byte) string {
	h := sha512.New()
	for _, p := range parts {
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// parseHelo decodes ["HELO", {"nonce": str|bin, "auth": str|bin,
// "keepalive": bool}]. Keys it does not know are skipped, and a missing
// keepalive means true.
func parseHelo(obj []byte) (helo, error) {
	h := helo{keepalive: true}
	invalid := func(err error) (helo, error) {
		return h, fmt.Errorf("invalid HELO from the forward input: %w", err)
	}

	n, rest, err := msgp.ReadArrayHeaderBytes(obj)
	if err != nil {
		return invalid(err)
	}
	if n != 2 || !isHelo(obj) {
		return invalid(errors.New(`expected ["HELO", options]`))
	}
	_, rest, _ = msgp.ReadStringZC(rest)

	fields, rest, err := msgp.ReadMapHeaderBytes(rest)
	if err != nil {
		return invalid(err)
	}
	for range fields {
		var key []byte
		if key, rest, err = msgp.ReadMapKeyZC(rest); err != nil {
			return invalid(err)
		}
		switch string(key) {
		case "nonce":
			h.nonce, rest, err = readStrOrBin(rest)
		case "auth":
			h.auth, rest, err = readStrOrBin(rest)
		case "keepalive":
			h.keepalive, rest, err = msgp.ReadBoolBytes(rest)
		default:
			rest, err = msgp.Skip(rest)
		}
		if err != nil {
			return invalid(fmt.Errorf("option %s: %w", key, err))
		}
	}
	if len(h.nonce) == 0 {
		return invalid(errors.New("no nonce"))
	}

	// The slices point into the connection's buffer, which the next read
	// reuses.
	h.nonce = append([]byte(nil), h.nonce...)
	h.auth = append([]byte(nil), h.auth...)
	return h, nil
}

// parsePong decodes ["PONG", auth_result, reason, server_hostname,
// shared_key_hexdigest].
func parsePong(obj []byte) (pong, error) {
	var p pong
	invalid := func(err error) (pong, error) {
		return p, fmt.Errorf("invalid PONG from the forward input: %w", err)
	}

	n, rest, err := msgp.ReadArrayHeaderBytes(obj)
	if err != nil {
		return invalid(err)
	}
	if n != 5 {
		if isHelo(obj) {
			return invalid(errors.New("got a second HELO"))
		}
		return invalid(fmt.Errorf("expected 5 elements, got %d", n))
	}

	kind, rest, err := readStrOrBin(rest)
	if err != nil || string(kind) != "PONG" {
		return invalid(errors.New(`the first element is not "PONG"`))
	}
	if p.ok, rest, err = msgp.ReadBoolBytes(rest); err != nil {
		return invalid(fmt.Errorf("auth_result: %w", err))
	}
	var reason, hostname, digest []byte
	if reason, rest, err = readStrOrBin(rest); err != nil {
		return invalid(fmt.Errorf("reason: %w", err))
	}
	if hostname, rest, err = readStrOrBin(rest); err != nil {
		return invalid(fmt.Errorf("server_hostname: %w", err))
	}
	if digest, _, err = readStrOrBin(rest); err != nil {
		return invalid(fmt.Errorf("shared_key_hexdigest: %w", err))
	}
	p.reason, p.hostname, p.digest = string(reason), string(hostname), string(digest)
	return p, nil
}

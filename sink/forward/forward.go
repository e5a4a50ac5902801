// Package forward sends alerts to a Fluent Bit or Fluentd forward input
// with the Fluent forward protocol v1, so that users can route them through
// Fluent Bit's own outputs.
//
// Each batch goes as PackedForward messages whose chunk option the input
// acknowledges, so delivery is at least once: an ack lost on the way back
// makes the batch come again, with the same chunk id and the same alert ids.
// A shared key turns on the HELO/PING/PONG handshake, in which both sides
// prove that they hold the key.
package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/format"
	"github.com/edgehunt/runningrat/sink"
)

func init() {
	sink.Register("forward", format.Native, func(opts sink.Options) (sink.Sink, error) {
		return New(opts)
	})
}

// Sink sends alerts to one forward input. It keeps one connection open
// across batches, sends one batch at a time on it, and reconnects after any
// error.
type Sink struct {
	cfg    settings
	format format.Format
	log    *slog.Logger

	// slot is the right to use conn. A Send waits for it, or gives up when
	// its ctx ends.
	slot   chan struct{}
	conn   *conn // nil when not connected; guarded by slot
	closed bool  // guarded by slot
	outage outage
}

// New builds a forward sink from the Forward_*, Sink_Timeout and Sink_TLS*
// keys. It does not connect: the first Send does.
func New(opts sink.Options) (*Sink, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := parseSettings(opts.Config, log)
	if err != nil {
		return nil, err
	}

	log = log.With("sink", "forward", "address", cfg.target())
	compress := "none"
	if cfg.gzip {
		compress = "gzip"
	}
	log.Info("forward sink configured",
		"tag", cfg.tag, "tls", cfg.tls != nil, "shared_key", cfg.sharedKey != "",
		"username", cfg.username, "self_hostname", cfg.hostname, "require_ack", cfg.requireAck,
		"compress", compress, "batch_size", cfg.batchSize, "timeout", cfg.timeout)
	if !cfg.requireAck {
		log.Warn("Forward_Require_Ack is off: a batch counts as delivered once written to the socket, so alerts in flight when the input goes down are lost")
	}

	return &Sink{
		cfg:    cfg,
		format: opts.Format.Or(format.Native),
		log:    log,
		slot:   make(chan struct{}, 1),
	}, nil
}

// Send delivers the batch as one message, or as several when it holds more
// than Forward_Batch_Size alerts or 4 MiB. It returns nil once the input
// acked every message. An alert that cannot be encoded is reported as a
// permanent *sink.BatchError item. When a message fails after others were
// acked, the *sink.BatchError lists the alerts not acked as transient, so
// that only those come again. Any other error means that no alert counts as
// delivered.
func (s *Sink) Send(ctx context.Context, alerts []detect.Alert) error {
	if len(alerts) == 0 {
		return nil
	}
	entries, rejected := s.encode(alerts)
	var messages []message
	for _, g := range group(entries, s.cfg.batchSize) {
		m, err := buildMessage(s.cfg.tag, g, s.cfg.requireAck, s.cfg.gzip)
		if err != nil {
			return err
		}
		messages = append(messages, m)
	}

	select {
	case s.slot <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("wait for the connection to forward input %s: %w", s.cfg.target(), context.Cause(ctx))
	}
	defer func() { <-s.slot }()
	if s.closed {
		return errors.New("the forward sink is closed")
	}

	for i, m := range messages {
		if err := s.deliver(ctx, m); err != nil {
			return undelivered(err, rejected, messages[i:], i > 0)
		}
	}
	if len(rejected) > 0 {
		return &sink.BatchError{Items: rejected}
	}
	return nil
}

// Close closes the connection. Send is not called after Close.
func (s *Sink) Close(ctx context.Context) error {
	select {
	case s.slot <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("close the forward sink: %w", context.Cause(ctx))
	}
	defer func() { <-s.slot }()

	s.closed = true
	s.disconnect()
	return nil
}

// encode encodes each alert as an entry. An alert that fails becomes a
// permanent item error, since encoding it again fails the same way.
func (s *Sink) encode(alerts []detect.Alert) ([]entry, []sink.ItemError) {
	entries := make([]entry, 0, len(alerts))
	var rejected []sink.ItemError
	for i := range alerts {
		data, err := encodeEntry(nil, s.format, &alerts[i])
		if err != nil {
			s.log.Error("alert cannot be sent to a forward input", "alert_id", alerts[i].ID, "error", err)
			rejected = append(rejected, sink.ItemError{Index: i, Permanent: true, Reason: err.Error()})
			continue
		}
		entries = append(entries, entry{index: i, data: data})
	}
	return entries, rejected
}

// undelivered builds the error of a Send whose message failed with err: a
// plain error when no alert was delivered or rejected, or else a
// *sink.BatchError that lists the rejected alerts and those of the messages
// left.
func undelivered(err error, rejected []sink.ItemError, left []message, someAcked bool) error {
	if !someAcked && len(rejected) == 0 {
		return err
	}
	items := slices.Clone(rejected)
	for _, m := range left {
		for _, i := range m.indices {
			items = append(items, sink.ItemError{Index: i, Reason: err.Error()})
		}
	}
	slices.SortFunc(items, func(a, b sink.ItemError) int { return a.Index - b.Index })
	return &sink.BatchError{Items: items}
}

// deliver sends one message and waits for its ack. The caller holds slot.
func (s *Sink) deliver(ctx context.Context, m message) error {
	c, err := s.connection(ctx)
	if err != nil {
		return err
	}

	err = c.within(ctx, time.Now().Add(s.cfg.timeout), func() error {
		if _, err := c.Write(m.data); err != nil {
			return fmt.Errorf("send %d alerts: %w", len(m.indices), err)
		}
		if m.chunk == "" {
			return nil
		}
		return c.readAck(m.chunk)
	})
	if err != nil {
		err = s.describe(ctx, err, m)
		s.outage.failed(s.log, "alerts not delivered to the forward input; closing the connection",
			"alerts", len(m.indices), "chunk", m.chunk, "error", err)
		s.disconnect()
		return err
	}

	s.outage.recovered(s.log)
	if !c.keepalive {
		s.disconnect()
	}
	return nil
}

// describe wraps the error of an exchange with the failed step and the
// peer's address.
func (s *Sink) describe(ctx context.Context, err error, m message) error {
	target := s.cfg.target()
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("send to forward input %s: %w", target, err)
	case errors.Is(err, os.ErrDeadlineExceeded) && m.chunk != "":
		return fmt.Errorf("no ack for chunk %s from forward input %s within %s (Sink_Timeout): %w", m.chunk, target, s.cfg.timeout, err)
	case errors.Is(err, io.EOF) && m.chunk != "":
		return fmt.Errorf("forward input %s closed the connection before acking chunk %s", target, m.chunk)
	}
	return fmt.Errorf("send to forward input %s: %w", target, err)
}

// connection returns the open connection if the peer has not closed it, or
// a new one. The caller holds slot.
func (s *Sink) connection(ctx context.Context) (*conn, error) {
	if s.conn != nil {
		err := s.conn.checkIdle()
		if err == nil {
			return s.conn, nil
		}
		if errors.Is(err, errSharedKeyRequired) {
			s.log.Error("the forward input requires a handshake that the sink does not send", "error", err)
		} else {
			s.log.Info("the forward connection was closed while idle; reconnecting", "error", err)
		}
		s.disconnect()
	}

	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	s.conn = c
	return c, nil
}

// connect dials the peer and runs the handshake when a shared key is set,
// both within one Sink_Timeout.
func (s *Sink) connect(ctx context.Context) (*conn, error) {
	target := s.cfg.target()
	deadline := time.Now().Add(s.cfg.timeout)

	dialCtx, cancel := context.WithDeadline(ctx, deadline)
	c, err := dial(dialCtx, s.cfg.network, s.cfg.address, s.cfg.tls)
	cancel()
	if err != nil {
		err = fmt.Errorf("connect to forward input %s: %w", target, err)
		s.outage.failed(s.log, "cannot connect to the forward input", "error", err)
		return nil, err
	}

	if s.cfg.sharedKey != "" {
		err := c.within(ctx, deadline, func() error { return handshake(c, &s.cfg) })
		if err != nil {
			c.Close()
			err = fmt.Errorf("handshake with forward input %s: %w", target, err)
			var rejected *rejectedError
			if errors.As(err, &rejected) {
				s.log.Error("the forward input rejected the handshake; no alert reaches it until the shared key or user matches",
					"reason", rejected.reason, "self_hostname", s.cfg.hostname, "username", s.cfg.username)
			} else {
				s.log.Error("the handshake with the forward input failed", "error", err)
			}
			return nil, err
		}
	}

	s.log.Info("connected to the forward input", "tls", s.cfg.tls != nil, "handshake", s.cfg.sharedKey != "", "keepalive", c.keepalive)
	return c, nil
}

// disconnect closes the connection, if any. The caller holds slot.
func (s *Sink) disconnect() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// outage limits the logs of a peer that keeps failing: the first failure
// logs at WARN and the repeats at DEBUG, until a delivery logs how many
// attempts failed. Handshake rejections are not counted here and always
// log at ERROR, because they need a person. It is guarded by slot.
type outage struct {
	failures int
}

func (o *outage) failed(log *slog.Logger, msg string, args ...any) {
	o.failures++
	level := slog.LevelWarn
	if o.failures > 1 {
		level = slog.LevelDebug
	}
	log.Log(context.Background(), level, msg, append(args, "failed_attempts", o.failures)...)
}

func (o *outage) recovered(log *slog.Logger) {
	if o.failures > 0 {
		log.Info("the forward input accepts alerts again", "failed_attempts", o.failures)
		o.failures = 0
	}
}

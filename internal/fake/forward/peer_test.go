package forwardpeer

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tinylib/msgp/msgp"
)

var eventTime = time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)

// appendEventTime appends t as EventTime, in a fixext8 or, when ext8 is
// set, in an ext8 with a length byte. The protocol allows both.
func appendEventTime(dst []byte, t time.Time, ext8 bool) []byte {
	if ext8 {
		dst = append(dst, 0xc7, 8, 0)
	} else {
		dst = append(dst, 0xd7, 0)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(t.Unix()))
	return binary.BigEndian.AppendUint32(dst, uint32(t.Nanosecond()))
}

func appendRecord(dst []byte, alertID string) []byte {
	dst = msgp.AppendMapHeader(dst, 2)
	dst = msgp.AppendString(dst, "alert_id")
	dst = msgp.AppendString(dst, alertID)
	dst = msgp.AppendString(dst, "n")
	return msgp.AppendInt(dst, 7)
}

func appendOption(dst []byte, chunk string, size int, compressed bool) []byte {
	n := uint32(2)
	if compressed {
		n++
	}
	dst = msgp.AppendMapHeader(dst, n)
	dst = msgp.AppendString(dst, "chunk")
	dst = msgp.AppendString(dst, chunk)
	dst = msgp.AppendString(dst, "size")
	dst = msgp.AppendInt(dst, size)
	if compressed {
		dst = msgp.AppendString(dst, "compressed")
		dst = msgp.AppendString(dst, "gzip")
	}
	return dst
}

func entries(ids ...string) []byte {
	var b []byte
	for _, id := range ids {
		b = msgp.AppendArrayHeader(b, 2)
		b = appendEventTime(b, eventTime, false)
		b = appendRecord(b, id)
	}
	return b
}

func gzipped(t *testing.T, parts ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, p := range parts {
		zw := gzip.NewWriter(&buf)
		_, err := zw.Write(p)
		require.NoError(t, err)
		require.NoError(t, zw.Close())
	}
	return buf.Bytes()
}

func startPeer(t *testing.T, opts Options) *Peer {
	t.Helper()
	p, err := Start(opts)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

func dialPeer(t *testing.T, p *Peer) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	return c
}

// readAck reads one {"ack": chunk} and returns the chunk.
func readAck(t *testing.T, r *msgp.Reader) string {
	t.Helper()
	v, err := r.ReadIntf()
	require.NoError(t, err)
	m, ok := v.(map[string]any)
	require.True(t, ok, "ack is %T", v)
	chunk, ok := m["ack"].(string)
	require.True(t, ok)
	return chunk
}

func TestPeerDecodesEveryMode(t *testing.T) {
	cases := []struct {
		name          string
		message       func(t *testing.T) []byte
		mode          Mode
		ids           []string
		eventTime     bool
		binaryEntries bool
	}{
		{
			name: "message with integer time",
			message: func(*testing.T) []byte {
				b := msgp.AppendArrayHeader(nil, 4)
				b = msgp.AppendString(b, "t")
				b = msgp.AppendInt64(b, eventTime.Unix())
				b = appendRecord(b, "m1")
				return appendOption(b, "c1", 1, false)
			},
			mode: MessageMode, ids: []string{"m1"},
		},
		{
			name: "forward with ext8 event time",
			message: func(*testing.T) []byte {
				b := msgp.AppendArrayHeader(nil, 3)
				b = msgp.AppendString(b, "t")
				b = msgp.AppendArrayHeader(b, 2)
				for _, id := range []string{"f1", "f2"} {
					b = msgp.AppendArrayHeader(b, 2)
					b = appendEventTime(b, eventTime, true)
					b = appendRecord(b, id)
				}
				return appendOption(b, "c1", 2, false)
			},
			mode: ForwardMode, ids: []string{"f1", "f2"}, eventTime: true,
		},
		{
			name: "packed forward as str",
			message: func(*testing.T) []byte {
				b := msgp.AppendArrayHeader(nil, 3)
				b = msgp.AppendString(b, "t")
				b = msgp.AppendStringFromBytes(b, entries("p1", "p2"))
				return appendOption(b, "c1", 2, false)
			},
			mode: PackedForwardMode, ids: []string{"p1", "p2"}, eventTime: true,
		},
		{
			name: "packed forward as bin",
			message: func(*testing.T) []byte {
				b := msgp.AppendArrayHeader(nil, 3)
				b = msgp.AppendString(b, "t")
				b = msgp.AppendBytes(b, entries("p1"))
				return appendOption(b, "c1", 1, false)
			},
			mode: PackedForwardMode, ids: []string{"p1"}, eventTime: true, binaryEntries: true,
		},
		{
			name: "compressed in two gzip members",
			message: func(t *testing.T) []byte {
				b := msgp.AppendArrayHeader(nil, 3)
				b = msgp.AppendString(b, "t")
				b = msgp.AppendBytes(b, gzipped(t, entries("g1"), entries("g2")))
				return appendOption(b, "c1", 2, true)
			},
			mode: CompressedPackedForwardMode, ids: []string{"g1", "g2"}, eventTime: true, binaryEntries: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := startPeer(t, Options{})
			conn := dialPeer(t, p)

			_, err := conn.Write(c.message(t))
			require.NoError(t, err)
			assert.Equal(t, "c1", readAck(t, msgp.NewReader(conn)))

			messages := p.Messages()
			require.Len(t, messages, 1)
			assert.Equal(t, c.mode, messages[0].Mode)
			assert.Equal(t, "t", messages[0].Tag)
			assert.Equal(t, len(c.ids), messages[0].Size)
			assert.Equal(t, len(c.ids), messages[0].Entries)
			assert.Equal(t, c.binaryEntries, messages[0].BinaryEntries)

			records := p.Records()
			require.Len(t, records, len(c.ids))
			for i, r := range records {
				assert.Equal(t, c.ids[i], r.AlertID)
				assert.Equal(t, "c1", r.Chunk)
				assert.Equal(t, int64(7), r.Fields["n"])
				assert.Equal(t, c.eventTime, r.EventTime)
				if c.eventTime {
					assert.Equal(t, eventTime, r.Time)
				} else {
					assert.Equal(t, eventTime.Truncate(time.Second), r.Time)
				}
				assert.Equal(t, 1, p.Count(c.ids[i]))
			}
		})
	}
}

func TestPeerSkipsHeartbeat(t *testing.T) {
	p := startPeer(t, Options{})
	conn := dialPeer(t, p)

	msg := msgp.AppendNil(nil)
	msg = msgp.AppendArrayHeader(msg, 3)
	msg = msgp.AppendString(msg, "t")
	msg = msgp.AppendBytes(msg, entries("a1"))
	msg = appendOption(msg, "c1", 1, false)
	_, err := conn.Write(msg)
	require.NoError(t, err)

	assert.Equal(t, "c1", readAck(t, msgp.NewReader(conn)))
	assert.Equal(t, 1, p.Count("a1"))
}

func TestPeerClosesOnInvalidMessage(t *testing.T) {
	p := startPeer(t, Options{})
	conn := dialPeer(t, p)

	msg := msgp.AppendArrayHeader(nil, 2)
	msg = msgp.AppendInt(msg, 1) // a tag must be a str
	msg = msgp.AppendInt(msg, 2)
	_, err := conn.Write(msg)
	require.NoError(t, err)

	_, err = conn.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF)
	assert.Empty(t, p.Messages())
}

func TestPeerDownAndUpKeepsAddress(t *testing.T) {
	p := startPeer(t, Options{})
	addr := p.Addr()

	p.Down()
	_, err := net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "a peer that is down refuses connections")

	require.NoError(t, p.Up())
	assert.Equal(t, addr, p.Addr())
	conn := dialPeer(t, p)
	_, err = conn.Write(msgp.AppendNil(nil))
	require.NoError(t, err)

	require.NoError(t, p.Close())
	assert.Error(t, p.Up(), "Up after Close")
}

func TestPeerReplyFuncDelaysAck(t *testing.T) {
	p := startPeer(t, Options{})
	var seen []Message
	p.SetReplyFunc(func(m Message) Reply {
		seen = append(seen, m)
		return Reply{Delay: 50 * time.Millisecond}
	})
	conn := dialPeer(t, p)

	msg := msgp.AppendArrayHeader(nil, 3)
	msg = msgp.AppendString(msg, "t")
	msg = msgp.AppendBytes(msg, entries("a1"))
	msg = appendOption(msg, "c1", 1, false)
	_, err := conn.Write(msg)
	require.NoError(t, err)

	assert.Equal(t, "c1", readAck(t, msgp.NewReader(conn)))
	require.Len(t, seen, 1)
	assert.Equal(t, "c1", seen[0].Chunk)
}

func TestPeerWaitRecordsTimesOut(t *testing.T) {
	p := startPeer(t, Options{})
	assert.False(t, p.WaitRecords(1, 10*time.Millisecond))
	assert.True(t, p.WaitRecords(0, 10*time.Millisecond))
}

func TestPeerResetClearsRecords(t *testing.T) {
	p := startPeer(t, Options{})
	conn := dialPeer(t, p)
	msg := msgp.AppendArrayHeader(nil, 3)
	msg = msgp.AppendString(msg, "t")
	msg = msgp.AppendBytes(msg, entries("a1"))
	msg = appendOption(msg, "c1", 1, false)
	_, err := conn.Write(msg)
	require.NoError(t, err)
	readAck(t, msgp.NewReader(conn))

	p.Reset()

	assert.Empty(t, p.Records())
	assert.Empty(t, p.Messages())
	assert.Zero(t, p.Count("a1"))
}

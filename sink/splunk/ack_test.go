package splunk

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/internal/fake/hec"
	"github.com/edgehunt/runningrat/sink"
)

func TestAckLate(t *testing.T) {
	srv := hec.New(t, hec.Options{Ack: true})
	s, _ := newSink(t, srv, config.Map{"Splunk_Ack": "on", "Splunk_Batch_Size": "2"})
	srv.SetAckDelay(400 * time.Millisecond)

	require.NoError(t, s.Send(t.Context(), testAlerts(t, 3)))

	assert.Len(t, srv.Events(), 3)
	assert.GreaterOrEqual(t, srv.Counts().AckRequests, 3, "one check, then polls until the late acks are true")
	for _, r := range srv.Requests() {
		assert.Equal(t, s.cfg.channel, r.Channel, "every request carries the channel")
	}
}

func TestAckNever(t *testing.T) {
	srv := hec.New(t, hec.Options{Ack: true})
	s, logs := newSink(t, srv, config.Map{"Splunk_Ack": "on", "Splunk_Ack_Timeout": "300ms"})
	srv.SetAckDelay(hec.Never)

	err := s.Send(t.Context(), testAlerts(t, 2))

	require.Error(t, err)
	assert.Nil(t, sink.AsBatchError(err), "no alert counts as delivered without its ack")
	assert.Contains(t, err.Error(), "did not acknowledge indexing within Splunk_Ack_Timeout (300ms)")
	assert.Contains(t, logs.String(), "not acknowledged")
}

func TestAckSomeRequestsOnly(t *testing.T) {
	srv := hec.New(t, hec.Options{Ack: true})
	s, _ := newSink(t, srv, config.Map{"Splunk_Ack": "on", "Splunk_Ack_Timeout": "300ms", "Splunk_Batch_Size": "2"})
	srv.BusyAfter(1)

	err := s.Send(t.Context(), testAlerts(t, 4))

	require.Error(t, err)
	assert.Nil(t, sink.AsBatchError(err), "the stored head has no ackId, so nothing counts as delivered")
	assert.Equal(t, 1, srv.Count("alert-000"), "HEC took the head")
}

func TestAckDisabledOnToken(t *testing.T) {
	srv := hec.New(t, hec.Options{})
	s, logs := newSink(t, srv, config.Map{"Splunk_Ack": "on"})

	err := s.Send(t.Context(), testAlerts(t, 2))

	require.ErrorIs(t, err, errAckDisabled)
	assert.Nil(t, sink.AsBatchError(err))
	assert.Contains(t, err.Error(), "indexer acknowledgement is disabled for the token")
	assert.Zero(t, srv.Counts().EventRequests, "no event is sent, so none is indexed twice")
	assert.Contains(t, logs.String(), "level=ERROR")
}

func TestAckQueryFailuresAreRetried(t *testing.T) {
	srv := hec.New(t, hec.Options{Ack: true})
	s, _ := newSink(t, srv, config.Map{"Splunk_Ack": "on", "Splunk_Ack_Timeout": "10s"})
	require.NoError(t, s.Send(t.Context(), testAlerts(t, 1)))

	srv.FailAcksNext(2, 503)
	require.NoError(t, s.Send(t.Context(), testAlerts(t, 2)[1:]))
	assert.Len(t, srv.Events(), 2)
}

func TestAckWithFixedChannel(t *testing.T) {
	const channel = "0b2a5c36-6f4e-4d1a-9c3e-2f1d7a8b9c0d"
	srv := hec.New(t, hec.Options{Ack: true})
	s, _ := newSink(t, srv, config.Map{"Splunk_Ack": "on", "Splunk_Channel": channel})

	require.NoError(t, s.Send(t.Context(), testAlerts(t, 1)))
	assert.Equal(t, channel, srv.Events()[0].Channel)
}

func TestAckIDReusedInOneAttempt(t *testing.T) {
	at := newAttempt(3)
	at.await(0, []int{0, 1})
	at.await(0, []int{2})
	at.deliver(at.pending[0])

	be := sink.AsBatchError(at.result())
	require.NotNil(t, be)
	transient, permanent := itemSets(be)
	assert.Equal(t, []int{0, 1}, transient, "the earlier request can no longer be confirmed")
	assert.Empty(t, permanent)
	assert.Contains(t, reasonOf(be, 0), "ackId 0")
}

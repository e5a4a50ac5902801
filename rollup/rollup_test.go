package rollup

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/detect"
)

var t0 = time.Date(2025, 5, 14, 10, 0, 0, 0, time.UTC)

func hit(id, src string, at time.Time) detect.Alert {
	return detect.Alert{
		ID: id, Timestamp: at.Format(detect.TimeLayout), Verdict: "exact",
		Rule:  detect.RuleRef{ID: "rule-1"},
		Event: detect.Columns{{Name: "SourceIP", Value: src}, {Name: "RequestURL", Value: "/ui/chk"}},
	}
}

func ids(alerts []detect.Alert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, a.ID)
	}
	return out
}

func TestFirstHitSentRepeatsRolledUp(t *testing.T) {
	r, err := Open(time.Minute, []string{"SourceIP", "RequestURL"}, &memStore{})
	require.NoError(t, err)

	send, err := r.Filter([]detect.Alert{hit("a1", "192.0.2.1", t0), hit("b1", "192.0.2.2", t0), hit("a2", "192.0.2.1", t0.Add(time.Second))}, t0)
	require.NoError(t, err)
	assert.Equal(t, []string{"a1", "b1"}, ids(send))

	send, err = r.Filter([]detect.Alert{hit("a3", "192.0.2.1", t0.Add(2*time.Second))}, t0.Add(2*time.Second))
	require.NoError(t, err)
	assert.Empty(t, send)

	rollups, keys := r.Due(t0.Add(30 * time.Second))
	assert.Empty(t, rollups, "windows still open")
	assert.Empty(t, keys)

	rollups, keys = r.Due(t0.Add(time.Minute))
	require.Len(t, rollups, 1, "only the beaconing source held hits back")
	assert.Len(t, keys, 2)
	ru := rollups[0].Rollup
	require.NotNil(t, ru)
	assert.Equal(t, int64(2), ru.Count)
	assert.Equal(t, []string{"a2", "a3"}, ru.AlertIDs)
	assert.Equal(t, hit("", "", t0.Add(time.Second)).Timestamp, ru.FirstSeen)
	assert.Equal(t, hit("", "", t0.Add(2*time.Second)).Timestamp, ru.LastSeen)
	assert.NotEqual(t, "a1", rollups[0].ID, "a roll-up has an id of its own")

	require.NoError(t, r.Commit(keys))
	assert.Equal(t, 0, r.Open())

	send, err = r.Filter([]detect.Alert{hit("a4", "192.0.2.1", t0.Add(2*time.Minute))}, t0.Add(2*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, []string{"a4"}, ids(send), "a new window starts with a hit sent at once")
}

func TestEndedWindowNotYetCollected(t *testing.T) {
	r, err := Open(time.Minute, []string{"SourceIP"}, &memStore{})
	require.NoError(t, err)
	_, err = r.Filter([]detect.Alert{hit("a1", "192.0.2.1", t0), hit("a2", "192.0.2.1", t0)}, t0)
	require.NoError(t, err)

	late := t0.Add(90 * time.Second)
	send, err := r.Filter([]detect.Alert{hit("a3", "192.0.2.1", late), hit("a4", "192.0.2.1", late)}, late)
	require.NoError(t, err)
	assert.Equal(t, []string{"a3"}, ids(send))

	rollups, _ := r.Due(late)
	require.Len(t, rollups, 1)
	assert.Equal(t, int64(1), rollups[0].Rollup.Count, "the ended window keeps its own count")
}

func TestStateSurvivesRestart(t *testing.T) {
	store := &memStore{}
	r, err := Open(time.Minute, []string{"SourceIP"}, store)
	require.NoError(t, err)
	var batch []detect.Alert
	for i := range 5 {
		batch = append(batch, hit(fmt.Sprintf("a%d", i), "192.0.2.1", t0))
	}
	_, err = r.Filter(batch, t0)
	require.NoError(t, err)

	restarted, err := Open(time.Minute, []string{"SourceIP"}, store)
	require.NoError(t, err)
	rollups, _ := restarted.Due(t0.Add(time.Hour))
	require.Len(t, rollups, 1)
	assert.Equal(t, int64(4), rollups[0].Rollup.Count)
}

func TestOpenRejectsDamagedState(t *testing.T) {
	store := &memStore{values: map[string][]byte{stateName: []byte("not json")}}
	_, err := Open(time.Minute, nil, store)
	assert.ErrorContains(t, err, "is not valid JSON")
}

// memStore is a Store in memory.
type memStore struct {
	values map[string][]byte
}

func (m *memStore) LoadState(name string) ([]byte, error) {
	return m.values[name], nil
}

func (m *memStore) SaveState(name string, value []byte) error {
	if m.values == nil {
		m.values = map[string][]byte{}
	}
	m.values[name] = append([]byte(nil), value...)
	return nil
}

package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestMapGetIgnoresCase(t *testing.T) {
	m := Map{"Detection_Mode": "exact"}
	assert.Equal(t, "exact", m.Get("detection_mode"))
	assert.Equal(t, "", m.Get("missing"))
}

func TestBool(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
		err  bool
	}{{"on", true, false}, {"Off", false, false}, {"true", true, false}, {"0", false, false}, {"", true, false}, {"maybe", false, true}} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Bool(Map{"k": tt.in}, "k", true)
			if tt.err {
				assert.ErrorContains(t, err, `invalid k "maybe"`)
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDuration(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{{"30s", 30 * time.Second}, {"1.5", 1500 * time.Millisecond}, {"2m", 2 * time.Minute}, {"", time.Minute}} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Duration(Map{"k": tt.in}, "k", time.Minute)
			assert.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := Duration(Map{"k": "soon"}, "k", 0)
	assert.ErrorContains(t, err, `invalid k "soon"`)
}

func TestSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{{"512K", 512 << 10}, {"64M", 64 << 20}, {"1G", 1 << 30}, {"100", 100}, {"2MB", 2 << 20}, {"", 7}} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Size(Map{"k": tt.in}, "k", 7)
			assert.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := Size(Map{"k": "lots"}, "k", 0)
	assert.ErrorContains(t, err, `invalid k "lots"`)
}

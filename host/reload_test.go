package host

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFlbhostHotReload checks -R against the order in which Fluent Bit
// v5.1.1 calls a Go plugin on a hot reload: the library is registered
// again before the old instances stop, the old definition is unregistered,
// and the new instances start with the hook arguments of Hot_Reload On.
func TestFlbhostHotReload(t *testing.T) {
	buildTools(t)
	chunks := writeChunkFile(t, simpleChunks(2)...)

	r := runHost(t, built.probe, []string{"-R", "-i", "2"}, chunks)
	require.Equal(t, 0, r.exitCode, r.stderr)

	type call struct {
		name     string
		argument int // -1: no argument
	}
	want := []call{
		{"FLBPluginPreRegister", 0}, {"FLBPluginRegister", -1},
		{"FLBPluginInit", -1}, {"FLBPluginInit", -1},
		{"FLBPluginOutputPreRun", 1}, {"FLBPluginOutputPreRun", 1},
		{"FLBPluginFlushCtx", -1}, {"FLBPluginFlushCtx", -1}, {"FLBPluginFlushCtx", -1}, {"FLBPluginFlushCtx", -1},
		{"FLBPluginPreRegister", 1}, {"FLBPluginRegister", -1},
		{"FLBPluginOutputPreExit", 1}, {"FLBPluginExitCtx", -1}, {"FLBPluginOutputPreExit", 1}, {"FLBPluginExitCtx", -1},
		{"FLBPluginUnregister", -1},
		{"FLBPluginInit", -1}, {"FLBPluginInit", -1},
		{"FLBPluginOutputPreRun", 1}, {"FLBPluginOutputPreRun", 1},
		{"FLBPluginFlushCtx", -1}, {"FLBPluginFlushCtx", -1}, {"FLBPluginFlushCtx", -1}, {"FLBPluginFlushCtx", -1},
		{"FLBPluginOutputPreExit", 0}, {"FLBPluginExitCtx", -1}, {"FLBPluginOutputPreExit", 0}, {"FLBPluginExitCtx", -1},
		{"FLBPluginUnregister", -1},
	}
	var got []call
	for _, e := range r.events {
		c := call{name: e.Call, argument: -1}
		if e.Argument != nil {
			c.argument = *e.Argument
		}
		got = append(got, c)
	}
	assert.Equal(t, want, got)

	// The probe numbers instances in Init order across the process, so the
	// second generation's flushes reach instances 2 and 3.
	instances := map[int]int{}
	for _, e := range r.flushes() {
		instances[e.Instance]++
	}
	assert.Equal(t, map[int]int{0: 2, 1: 2, 2: 2, 3: 2}, instances)

	assert.Equal(t, 2, strings.Count(r.stderr, "summary before reload: probe."), "the old generation's instances in the summary")
	assert.Equal(t, 2, strings.Count(r.stderr, "summary after reload: probe."), "the new generation's instances, numbered from 0 again")
	assert.Contains(t, r.stderr, "summary after reload: probe.0: flushes 2 (OK 2, RETRY 0, ERROR 0)")
	assert.Contains(t, r.stderr, "peak resident memory (VmHWM)")
}

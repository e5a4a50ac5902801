package pipeline

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/format"
	"github.com/edgehunt/runningrat/sink"
)

// keyRead matches a configuration key read through a config.Getter named g,
// directly (g.Get("Key")) or through a helper (config.Duration(g, "Key", ...)).
var keyRead = regexp.MustCompile(`(?:\bg\.Get\(|\((?:g|opts\.Config), )"([A-Za-z][A-Za-z0-9_.]*)"`)

// TestKeysListEveryKeyRead checks that Keys, which the unknown-key check
// accepts, contains every key that the module's source reads, and that the
// README documents each of them.
func TestKeysListEveryKeyRead(t *testing.T) {
	read := map[string]string{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != ".." && (d.Name() == "testdata" || d.Name() == "fake" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range keyRead.FindAllStringSubmatch(string(data), -1) {
			read[m[1]] = path
		}
		return nil
	})
	require.NoError(t, err)
	require.Contains(t, read, "Sink", "the pattern finds the keys the source reads")

	for key, path := range read {
		assert.Truef(t, slices.Contains(Keys, key), "%s reads %q, which Keys lacks", path, key)
	}

	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	for _, key := range Keys {
		assert.Truef(t, strings.Contains(string(readme), "`"+key+"`"), "the README does not document %s", key)
	}
}

func TestSinkDefaultFormats(t *testing.T) {
	want := map[string]format.Format{
		"stdout": format.Native, "file": format.Native, "forward": format.Native,
		"splunk": format.Splunk, "elasticsearch": format.ECS,
	}
	assert.Len(t, sink.Names(), len(want))
	for name, f := range want {
		assert.Equal(t, f, sink.DefaultFormat(name), name)
	}
}

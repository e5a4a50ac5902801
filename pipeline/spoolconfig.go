package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/edgehunt/runningrat/config"
)

// DefaultSpoolDir returns the folder that holds spools when Spool_Dir is
// not set. It must be writable by an agent that runs as an ordinary user,
// so it follows where such a service keeps state: systemd's
// $STATE_DIRECTORY (set by StateDirectory=), then $XDG_STATE_HOME/runningrat,
// then ~/.local/state/runningrat, and last a folder in the temporary
// directory named after the user id.
func DefaultSpoolDir() string {
	if dirs := os.Getenv("STATE_DIRECTORY"); dirs != "" {
		return strings.Split(dirs, ":")[0]
	}
	if state := os.Getenv("XDG_STATE_HOME"); state != "" {
		return filepath.Join(state, "runningrat")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" && home != "/" {
		return filepath.Join(home, ".local", "state", "runningrat")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("runningrat-%d", os.Getuid()))
}

// destinationKeys are the settings that tell two outputs' destinations
// apart. None of them is a secret, so their hash may name a file.
var destinationKeys = []string{
	"Sink", "Path", "Splunk_URL", "Splunk_Index", "ES_URL", "ES_Index", "Forward_Address", "Forward_Tag",
}

// defaultSpoolName names an instance's spool after its sink and a hash of
// its destination, so that the same output finds its spool again after a
// restart and two outputs to different places never share one.
// The sink name is hashed as the plugin reads it (lower case, stdout when
// unset), so that "Sink Splunk" and "Sink splunk" find the same spool.
func defaultSpoolName(sinkName string, g config.Getter) string {
	h := sha256.New()
	for _, k := range destinationKeys {
		v := strings.TrimSpace(g.Get(k))
		if k == "Sink" {
			v = sinkName
		}
		fmt.Fprintf(h, "%s=%s\n", strings.ToLower(k), v)
	}
	return sinkName + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

var validSpoolName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// spoolPaths returns the spool file and the dead-letter file beside it.
func (c Config) spoolPaths() (spoolFile, deadLetterFile string) {
	base := filepath.Join(c.SpoolDir, c.SpoolName)
	return base + ".spool", base + ".deadletter.jsonl"
}

// spoolsInUse holds the spool files that instances of this process have
// open. Fluent Bit initialises instances in configuration order, so when
// two outputs with the same destination and no Spool_Name start, the
// second one takes "<name>.2" here, and gets it again after a restart.
var spoolsInUse = struct {
	sync.Mutex
	paths map[string]bool
}{paths: map[string]bool{}}

// claimSpoolName picks the spool name for c and marks its file as in use.
// It returns a function that releases it.
func claimSpoolName(c *Config) (release func(), err error) {
	spoolsInUse.Lock()
	defer spoolsInUse.Unlock()

	base := c.SpoolName
	for n := 1; ; n++ {
		if n > 1 {
			if !c.spoolNameDefault {
				return nil, fmt.Errorf("Spool_Name %q is used by another output instance: give each instance its own Spool_Name", base)
			}
			c.SpoolName = fmt.Sprintf("%s.%d", base, n)
		}
		path, _ := c.spoolPaths()
		if !spoolsInUse.paths[path] {
			spoolsInUse.paths[path] = true
			return func() {
				spoolsInUse.Lock()
				delete(spoolsInUse.paths, path)
				spoolsInUse.Unlock()
			}, nil
		}
	}
}

package pipeline

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/rules"
)

// DefaultRulesWatchInterval is the interval between two checks of
// Rules_Path for changed rule files, unless Rules_Watch_Interval sets one.
const DefaultRulesWatchInterval = 10 * time.Second

// ruleWatcher holds the rules of one instance: the shipped ones that Rules
// selects and those of the files at Rules_Path, which it reloads when they
// change. A file that no longer compiles keeps its last good rules.
type ruleWatcher struct {
	shipped []detect.Rule
	path    string
	log     *slog.Logger
	files   map[string]*ruleFile
}

// ruleFile is the last state seen of one rule file.
type ruleFile struct {
	modTime time.Time
	size    int64
	rule    *detect.Rule // last version that compiled, or nil
}

func newRuleWatcher(g config.Getter, log *slog.Logger) (*ruleWatcher, error) {
	shipped, err := rules.Builtin()
	if err != nil {
		return nil, err
	}
	selected, err := rules.Select(shipped, g.Get("Rules"))
	if err != nil {
		return nil, err
	}
	w := &ruleWatcher{shipped: selected, path: config.String(g, "Rules_Path", ""), log: log, files: map[string]*ruleFile{}}
	w.scan()
	return w, nil
}

// scan rereads the files that are new or changed since the last scan and
// drops removed ones. It reports whether anything changed.
func (w *ruleWatcher) scan() bool {
	if w.path == "" {
		return false
	}
	paths, err := rules.RuleFiles(w.path)
	if err != nil {
		w.log.Error("reading Rules_Path failed; the loaded rules keep running", "path", w.path, "error", err)
		return false
	}

	changed := false
	present := map[string]bool{}
	for _, p := range paths {
		present[p] = true
		info, err := os.Stat(p)
		if err != nil {
			continue
		}
		old := w.files[p]
		if old != nil && old.modTime.Equal(info.ModTime()) && old.size == info.Size() {
			continue
		}
		state := &ruleFile{modTime: info.ModTime(), size: info.Size()}
		rule, err := rules.LoadFile(p)
		if err != nil {
			if old != nil && old.rule != nil {
				w.log.Error("rule file rejected; its previous version keeps running", "error", err)
				state.rule = old.rule
			} else {
				w.log.Error("rule file rejected; the other rules run", "error", err)
			}
		} else {
			state.rule = &rule
			if old != nil {
				w.log.Info("rule file reloaded", "path", p, "rule_id", rule.ID)
			}
		}
		w.files[p] = state
		changed = true
	}
	for p := range w.files {
		if !present[p] {
			delete(w.files, p)
			w.log.Info("rule file removed; its rule stops", "path", p)
			changed = true
		}
	}
	return changed
}

// compile returns the compiled rules: shipped first, then the files' in
// path order. A second rule with an id already seen is left out.
func (w *ruleWatcher) compile() ([]*detect.Compiled, error) {
	all := append([]detect.Rule{}, w.shipped...)
	paths, _ := rules.RuleFiles(w.path)
	for _, p := range paths {
		if f := w.files[p]; f != nil && f.rule != nil {
			all = append(all, *f.rule)
		}
	}

	seen := map[string]bool{}
	var out []*detect.Compiled
	for i := range all {
		r := &all[i]
		if seen[r.ID] {
			w.log.Error("rule id given twice; the later rule is left out", "rule_id", r.ID, "name", r.Name)
			continue
		}
		seen[r.ID] = true
		c, err := detect.Compile(r)
		if err != nil {
			w.log.Error("rule rejected; the other rules run", "rule_id", r.ID, "error", err)
			continue
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no detection rule to run: check Rules and Rules_Path")
	}
	return out, nil
}

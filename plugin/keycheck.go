package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/edgehunt/runningrat/config"
	"github.com/edgehunt/runningrat/internal/flbconf"
	"github.com/edgehunt/runningrat/pipeline"
)

// processArgs returns the command line whose configuration checkKeyNames
// reads. Tests replace it.
var processArgs = flbconf.ProcessArgs

// checkKeyNames finds the instance's own section in Fluent Bit's command line
// and configuration file and logs each key that neither the plugin nor
// Fluent Bit reads, with the nearest known key. With Unknown_Keys error, the
// default, an unknown key is an error, as it is for Fluent Bit's built-in
// plugins; with warn it is a warning.
//
// The check is skipped, with an info line, when the section cannot be found
// for certain: outside Linux, in a host other than fluent-bit, when the file
// cannot be read, or when the section's values differ from the instance's.
func checkKeyNames(index int, g config.Getter, log *slog.Logger) error {
	action := strings.ToLower(config.String(g, "Unknown_Keys", "error"))
	if action != "error" && action != "warn" {
		return fmt.Errorf("invalid Unknown_Keys %q: use error or warn", g.Get("Unknown_Keys"))
	}

	sections, err := flbconf.Outputs(processArgs(), Name)
	section, ok := ownSection(sections, index, g)
	if !ok {
		attrs := []any{"instance", index, "sections", len(sections)}
		if err != nil {
			attrs = append(attrs, "error", err)
		}
		log.Info("key names not checked: this instance's section was not found", attrs...)
		return nil
	}
	if err != nil {
		log.Debug("configuration partly read", "error", err)
	}

	level := slog.LevelError
	if action == "warn" {
		level = slog.LevelWarn
	}
	unknown := section.UnknownKeys(pipeline.Keys)
	for _, u := range unknown {
		attrs := []any{"key", u.Key, "at", u.Source}
		if u.Suggestion != "" {
			attrs = append(attrs, "did_you_mean", u.Suggestion)
		}
		log.Log(context.Background(), level, "unknown configuration key", attrs...)
	}
	if len(unknown) > 0 && action == "error" {
		return errors.New("unknown configuration keys: the README's configuration tables list the plugin's keys; fix them, or set Unknown_Keys warn to start anyway")
	}
	return nil
}

// ownSection returns the section of the instance numbered index, the
// index-th of the plugin's sections as Fluent Bit starts them in order. It
// reports false unless each plugin key that the section sets without a
// ${VARIABLE} has the value that Fluent Bit passed to the instance, so that
// the check never blames another instance's section.
func ownSection(sections []flbconf.Section, index int, g config.Getter) (flbconf.Section, bool) {
	if index >= len(sections) {
		return flbconf.Section{}, false
	}
	section := sections[index]
	for _, p := range section.Properties {
		if strings.Contains(p.Value, "${") || !isPluginKey(p.Key) {
			continue
		}
		if strings.TrimSpace(g.Get(p.Key)) != strings.TrimSpace(p.Value) {
			return flbconf.Section{}, false
		}
	}
	return section, true
}

func isPluginKey(key string) bool {
	for _, k := range pipeline.Keys {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

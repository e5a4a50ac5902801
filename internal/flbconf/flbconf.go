// Package flbconf reads the output sections that Fluent Bit's command line
// and configuration file give to one plugin, so that a Go plugin can check
// the names of its keys. Fluent Bit checks the keys of a built-in plugin
// against its config map. It registers a Go plugin without one and gives the
// plugin no way to list its properties (flb_plugin_proxy.c and flb_output.c
// in Fluent Bit v5.1.1), so a misspelt key would otherwise be ignored
// without a word.
//
// The reading follows Fluent Bit v5.1.1: the sections of the command line's
// -o and -p options come first, as Fluent Bit creates their instances first,
// then those of the file given with -c or --config. That file is YAML when
// its name ends in .yaml or .yml and classic otherwise, and its @INCLUDE
// lines or includes lists are followed.
package flbconf

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// Property is one key of an output section.
type Property struct {
	Key   string
	Value string
	// Source is the place that sets the key: "FILE:LINE" or "command line".
	Source string
}

// Section is one output section whose plugin name matched.
type Section struct {
	// Source is the section's first line: "FILE:LINE" or "command line".
	Source     string
	Properties []Property
}

// ProcessArgs returns the command line of the running process, read from
// /proc/self/cmdline. It returns nil where that file does not exist, as
// outside Linux.
func ProcessArgs() []string {
	data, err := os.ReadFile("/proc/self/cmdline")
	if err != nil || len(data) == 0 {
		return nil
	}
	data = bytes.TrimSuffix(data, []byte{0})
	return strings.Split(string(data), "\x00")
}

// Outputs returns the output sections named plugin (compared without regard
// to case), in the order in which Fluent Bit creates their instances. args is
// a Fluent Bit command line, program name first. An error means that the
// configuration file named on it could not be read or parsed, and the
// sections of the command line are returned with it.
func Outputs(args []string, plugin string) ([]Section, error) {
	cmdline, configPath := parseArgs(args, plugin)
	if configPath == "" {
		return cmdline, nil
	}

	var (
		fromFile []Section
		err      error
	)
	if isYAML(configPath) {
		fromFile, err = readYAML(configPath, plugin, 0)
	} else {
		fromFile, err = readClassic(configPath, plugin)
	}
	if err != nil {
		return cmdline, fmt.Errorf("read Fluent Bit configuration %s: %w", configPath, err)
	}
	return append(cmdline, fromFile...), nil
}

// maxConfigSize bounds each configuration file read.
const maxConfigSize = 16 << 20

// openConfig opens path for reading if it is a regular file of at most
// maxConfigSize bytes. A pipe such as /dev/stdin, which Fluent Bit has
// already read to its end, would block the plugin's start for good.
func openConfig(path string) (*os.File, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if info.Size() > maxConfigSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxConfigSize)
	}
	return os.Open(path)
}

func isYAML(path string) bool {
	lower := strings.ToLower(path)
	return strings.HasSuffix(lower, ".yaml") || strings.HasSuffix(lower, ".yml")
}

// longWithArg maps Fluent Bit's long options that take an argument to their
// short forms, and shortWithArg lists the short options that take one
// (fluent-bit.c, v5.1.1). The parser needs them to tell an option's argument
// from the next option.
var (
	longWithArg = map[string]byte{
		"storage_path": 'b', "config": 'c', "flush": 'f', "log_file": 'l', "port": 'P',
		"custom": 'C', "input": 'i', "processor": 'r', "filter": 'F', "output": 'o',
		"match": 'm', "parser": 'R', "prop": 'p', "plugin": 'e', "tag": 't',
		"sp-task": 'T', "workdir": 'w', "coro_stack_size": 's', "http_listen": 'L',
		"http_port": 'P',
	}
	shortWithArg = "bcfCimMoRrFpetTlwLPs"
)

// parseArgs returns the plugin's sections set by -o and -p, and the path
// given with -c, as Fluent Bit's getopt_long loop reads them: -p sets a
// property on the section that the last -i, -F, -r or -o opened.
func parseArgs(args []string, plugin string) (sections []Section, configPath string) {
	current := -1 // index in sections of the plugin's section that -p sets, or -1

	for i := 1; i < len(args); i++ {
		opt, value, ok := splitOption(args, &i)
		if !ok {
			continue
		}
		switch opt {
		case 'c':
			configPath = value
		case 'i', 'F', 'r':
			current = -1
		case 'o':
			current = -1
			if strings.EqualFold(value, plugin) {
				sections = append(sections, Section{Source: "command line"})
				current = len(sections) - 1
			}
		case 'p':
			key, val, found := strings.Cut(value, "=")
			if current >= 0 && found {
				s := &sections[current]
				s.Properties = append(s.Properties, Property{Key: key, Value: val, Source: "command line"})
			}
		}
	}
	return sections, configPath
}

// splitOption reads the option at args[*i] and its argument, advancing *i
// past an argument given as the next word. ok is false for a word that is
// not an option that takes an argument.
func splitOption(args []string, i *int) (opt byte, value string, ok bool) {
	word := args[*i]

	next := func() (string, bool) {
		if *i+1 >= len(args) {
			return "", false
		}
		*i++
		return args[*i], true
	}

	if name, ok := strings.CutPrefix(word, "--"); ok {
		name, inline, hasInline := strings.Cut(name, "=")
		short, takesArg := longWithArg[name]
		if !takesArg {
			return 0, "", false
		}
		if hasInline {
			return short, inline, true
		}
		value, ok := next()
		return short, value, ok
	}

	if len(word) < 2 || word[0] != '-' || !strings.Contains(shortWithArg, word[1:2]) {
		return 0, "", false
	}
	if len(word) > 2 {
		return word[1], word[2:], true
	}
	value, ok = next()
	return word[1], value, ok
}

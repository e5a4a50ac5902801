package flbconf

import (
	"bufio"
	"fmt"
	"path/filepath"
	"strings"
)

// classicSection is one [SECTION] of a classic file, before the plugin's
// outputs are picked out by their Name key, which may come last.
type classicSection struct {
	header     string
	source     string
	properties []Property
}

// classicReader reads a classic-format file and the files it includes.
type classicReader struct {
	// root is the directory of the main file: Fluent Bit resolves every
	// relative @INCLUDE path against it, whichever file the line is in.
	root     string
	open     map[string]bool // files being read, to stop include loops
	sections []classicSection
}

// readClassic returns the plugin's output sections of the classic-format file
// at path and of the files it includes.
func readClassic(path, plugin string) ([]Section, error) {
	r := &classicReader{root: filepath.Dir(path), open: map[string]bool{}}
	if err := r.readFile(path); err != nil {
		return nil, err
	}
	return pickOutputs(r.sections, plugin), nil
}

func (r *classicReader) readFile(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if r.open[abs] {
		return fmt.Errorf("%s includes itself", path)
	}
	r.open[abs] = true
	defer delete(r.open, abs)

	f, err := openConfig(path)
	if err != nil {
		return err
	}
	defer f.Close()

	// As in Fluent Bit (read_config in flb_cf_fluentbit.c, v5.1.1), each
	// file has its own current section: a property after an @INCLUDE belongs
	// to the section opened before it in the same file, and properties
	// before a file's first header belong to none. Properties inside an
	// indented [GROUP] are not the section's own.
	current := -1 // index in r.sections
	inGroup := false
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for line := 1; scanner.Scan(); line++ {
		raw := strings.TrimRight(scanner.Text(), " \t\r")
		text := strings.TrimLeft(raw, " \t")
		indented := len(text) < len(raw)

		switch {
		case text == "" || strings.HasPrefix(text, "#"):
			continue
		case !indented && hasPrefixFold(text, "@INCLUDE "):
			if err := r.include(strings.TrimSpace(text[len("@INCLUDE "):])); err != nil {
				return err
			}
		case !indented && strings.HasPrefix(text, "@"):
			// @SET and other meta commands set no section keys.
		case !indented && strings.HasPrefix(text, "["):
			header, _, _ := strings.Cut(text[1:], "]")
			r.sections = append(r.sections, classicSection{header: header, source: fmt.Sprintf("%s:%d", path, line)})
			current = len(r.sections) - 1
			inGroup = false
		case indented && strings.HasPrefix(text, "["):
			inGroup = true
		case indented && !inGroup && current >= 0:
			key, value, _ := strings.Cut(strings.Replace(text, "\t", " ", 1), " ")
			s := &r.sections[current]
			s.properties = append(s.properties, Property{Key: key, Value: strings.TrimSpace(value), Source: fmt.Sprintf("%s:%d", path, line)})
		}
	}
	return scanner.Err()
}

// include reads the files that an @INCLUDE pattern names, in the order
// filepath.Glob returns them.
func (r *classicReader) include(pattern string) error {
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(r.root, pattern)
	}
	if !strings.ContainsAny(pattern, "*?[") {
		return r.readFile(pattern)
	}

	paths, err := filepath.Glob(pattern)
	if err != nil {
		return fmt.Errorf("@INCLUDE %s: %w", pattern, err)
	}
	for _, p := range paths {
		if err := r.readFile(p); err != nil {
			return err
		}
	}
	return nil
}

// pickOutputs returns the [OUTPUT] sections whose Name is plugin. The Name
// key itself is left out of the properties, which are the keys to check.
func pickOutputs(sections []classicSection, plugin string) []Section {
	var out []Section
	for _, cs := range sections {
		if !strings.EqualFold(strings.TrimSpace(cs.header), "OUTPUT") {
			continue
		}
		name, props := splitName(cs.properties)
		if strings.EqualFold(name, plugin) {
			out = append(out, Section{Source: cs.source, Properties: props})
		}
	}
	return out
}

// splitName returns the value of the Name key and the other properties.
func splitName(props []Property) (string, []Property) {
	var (
		name  string
		other []Property
	)
	for _, p := range props {
		if strings.EqualFold(p.Key, "name") {
			name = p.Value
			continue
		}
		other = append(other, p)
	}
	return name, other
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

package flbconf

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxIncludeDepth bounds nested YAML includes, which Fluent Bit stops only
// when a file includes one already read.
const maxIncludeDepth = 32

// readYAML returns the plugin's outputs under pipeline.outputs in the YAML
// file at path, after those of the files its includes list names. Fluent
// Bit resolves a relative include against the directory of the file that
// names it.
func readYAML(path, plugin string, depth int) ([]Section, error) {
	if depth > maxIncludeDepth {
		return nil, fmt.Errorf("%s: includes nested more than %d deep", path, maxIncludeDepth)
	}
	f, err := openConfig(path)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil
	}
	root := doc.Content[0]

	var sections []Section
	for _, include := range scalars(mappingValue(root, "includes")) {
		if !filepath.IsAbs(include) {
			include = filepath.Join(filepath.Dir(path), include)
		}
		paths, err := filepath.Glob(include)
		if err != nil {
			return nil, fmt.Errorf("%s: include %s: %w", path, include, err)
		}
		for _, p := range paths {
			found, err := readYAML(p, plugin, depth+1)
			if err != nil {
				return nil, err
			}
			sections = append(sections, found...)
		}
	}

	outputs := mappingValue(mappingValue(root, "pipeline"), "outputs")
	if outputs == nil || outputs.Kind != yaml.SequenceNode {
		return sections, nil
	}
	for _, item := range outputs.Content {
		if s, ok := yamlOutput(item, path, plugin); ok {
			sections = append(sections, s)
		}
	}
	return sections, nil
}

// yamlOutput returns the output that item describes if its name is plugin.
// The processors key, which Fluent Bit reads itself, is left out with name.
func yamlOutput(item *yaml.Node, path, plugin string) (Section, bool) {
	if item.Kind != yaml.MappingNode {
		return Section{}, false
	}
	var props []Property
	for i := 0; i+1 < len(item.Content); i += 2 {
		key, value := item.Content[i], item.Content[i+1]
		if strings.EqualFold(key.Value, "processors") {
			continue
		}
		props = append(props, Property{Key: key.Value, Value: value.Value, Source: fmt.Sprintf("%s:%d", path, key.Line)})
	}

	name, props := splitName(props)
	if !strings.EqualFold(name, plugin) {
		return Section{}, false
	}
	return Section{Source: fmt.Sprintf("%s:%d", path, item.Line), Properties: props}, true
}

// mappingValue returns the value of key in the mapping node m, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if strings.EqualFold(m.Content[i].Value, key) {
			return m.Content[i+1]
		}
	}
	return nil
}

// scalars returns the scalar values of a sequence node, or of a single
// scalar node.
func scalars(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, c := range n.Content {
		if c.Kind == yaml.ScalarNode {
			out = append(out, c.Value)
		}
	}
	return out
}

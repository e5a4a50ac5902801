// Package rules loads detection rules written in Microsoft Sentinel's
// analytic-rule YAML schema and compiles their KQL query (a subset, see
// compileQuery) into detect.Rule values. The RunningRAT rule ships as such
// a file, embedded in the plugin.
package rules

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/edgehunt/runningrat/cef"
	"github.com/edgehunt/runningrat/detect"
)

//go:embed builtin/*.yaml
var builtin embed.FS

// file is the part of Sentinel's analytic-rule schema the plugin reads.
type file struct {
	ID                 string   `yaml:"id"`
	Name               string   `yaml:"name"`
	Description        string   `yaml:"description"`
	Severity           string   `yaml:"severity"`
	Version            string   `yaml:"version"`
	Tactics            []string `yaml:"tactics"`
	RelevantTechniques []string `yaml:"relevantTechniques"`
	Tags               []string `yaml:"tags"`
	Query              string   `yaml:"query"`
	Reference          string   `yaml:"reference"`
	EntityMappings     []struct {
		EntityType    string `yaml:"entityType"`
		FieldMappings []struct {
			Identifier string `yaml:"identifier"`
			ColumnName string `yaml:"columnName"`
		} `yaml:"fieldMappings"`
	} `yaml:"entityMappings"`
}

// Builtin returns the rules shipped with the plugin.
func Builtin() ([]detect.Rule, error) {
	entries, err := builtin.ReadDir("builtin")
	if err != nil {
		return nil, err
	}
	var out []detect.Rule
	for _, e := range entries {
		data, err := builtin.ReadFile("builtin/" + e.Name())
		if err != nil {
			return nil, err
		}
		rule, err := Parse(data, e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, rule)
	}
	return out, nil
}

// Parse compiles one rule file; name prefixes every error.
func Parse(data []byte, name string) (detect.Rule, error) {
	var f file
	if err := yaml.Unmarshal(data, &f); err != nil {
		return detect.Rule{}, fmt.Errorf("%s: invalid YAML: %w", name, err)
	}
	if f.ID == "" || f.Name == "" || f.Query == "" {
		return detect.Rule{}, fmt.Errorf("%s: id, name and query are required", name)
	}

	where, expr, project, err := compileQuery(f.Query)
	if err != nil {
		return detect.Rule{}, fmt.Errorf("%s: query: %w", name, err)
	}
	rule := detect.Rule{
		ID: f.ID, Name: f.Name, Version: f.Version, Severity: f.Severity,
		Description: strings.TrimSpace(f.Description), Reference: f.Reference,
		Tags: f.Tags, Where: where, Expr: expr, Project: project,
	}
	// The alert also shows the columns the conditions test, such as
	// RequestMethod, which the query projects away.
	for _, col := range conditionColumns(where, expr) {
		if !contains(rule.Project, col) {
			rule.Project = append(rule.Project, col)
		}
	}

	for _, t := range f.Tactics {
		tactic, ok := tactics[t]
		if !ok {
			return detect.Rule{}, fmt.Errorf("%s: unknown tactic %q: use Sentinel's names such as Exfiltration or CommandAndControl", name, t)
		}
		rule.Tactics = append(rule.Tactics, tactic)
	}
	for _, id := range f.RelevantTechniques {
		rule.Techniques = append(rule.Techniques, technique(id, rule.Tactics))
	}
	for _, m := range f.EntityMappings {
		for _, fm := range m.FieldMappings {
			if _, ok := cef.ColumnByName(fm.ColumnName); !ok {
				return detect.Rule{}, fmt.Errorf("%s: entity mapping: unknown column %q", name, fm.ColumnName)
			}
			rule.Entities = append(rule.Entities, detect.EntityMapping{
				Type: strings.ToLower(m.EntityType), Identifier: fm.Identifier, Column: fm.ColumnName,
			})
		}
	}
	if _, err := detect.Compile(&rule); err != nil {
		return detect.Rule{}, fmt.Errorf("%s: %w", name, err)
	}
	return rule, nil
}

// tactics maps Sentinel's tactic names to MITRE ATT&CK tactics.
var tactics = map[string]detect.Tactic{
	"Reconnaissance":      {ID: "TA0043", Name: "Reconnaissance"},
	"ResourceDevelopment": {ID: "TA0042", Name: "Resource Development"},
	"InitialAccess":       {ID: "TA0001", Name: "Initial Access"},
	"Execution":           {ID: "TA0002", Name: "Execution"},
	"Persistence":         {ID: "TA0003", Name: "Persistence"},
	"PrivilegeEscalation": {ID: "TA0004", Name: "Privilege Escalation"},
	"DefenseEvasion":      {ID: "TA0005", Name: "Defense Evasion"},
	"CredentialAccess":    {ID: "TA0006", Name: "Credential Access"},
	"Discovery":           {ID: "TA0007", Name: "Discovery"},
	"LateralMovement":     {ID: "TA0008", Name: "Lateral Movement"},
	"Collection":          {ID: "TA0009", Name: "Collection"},
	"Exfiltration":        {ID: "TA0010", Name: "Exfiltration"},
	"CommandAndControl":   {ID: "TA0011", Name: "Command and Control"},
	"Impact":              {ID: "TA0040", Name: "Impact"},
}

func init() {
	for k, t := range tactics {
		t.Reference = "https://attack.mitre.org/tactics/" + t.ID + "/"
		tactics[k] = t
	}
}

// techniqueInfo names the techniques the shipped rules use, with the
// tactic each serves; other ids keep their id as name.
var techniqueInfo = map[string]struct{ name, tactic, parentName string }{
	"T1041":     {name: "Exfiltration Over C2 Channel", tactic: "TA0010"},
	"T1071":     {name: "Application Layer Protocol", tactic: "TA0011"},
	"T1071.001": {name: "Web Protocols", tactic: "TA0011", parentName: "Application Layer Protocol"},
	"T1567":     {name: "Exfiltration Over Web Service", tactic: "TA0010"},
	"T1567.002": {name: "Exfiltration to Cloud Storage", tactic: "TA0010", parentName: "Exfiltration Over Web Service"},
	"T1102":     {name: "Web Service", tactic: "TA0011"},
	"T1102.002": {name: "Bidirectional Communication", tactic: "TA0011", parentName: "Web Service"},
}

func technique(id string, ruleTactics []detect.Tactic) detect.Technique {
	info, known := techniqueInfo[id]
	t := detect.Technique{ID: id, Name: id, Reference: techniqueReference(id)}
	if known {
		t.Name, t.Tactic = info.name, info.tactic
	} else if len(ruleTactics) > 0 {
		t.Tactic = ruleTactics[0].ID
	}
	if parent, _, isSub := strings.Cut(id, "."); isSub {
		name := parent
		if known && info.parentName != "" {
			name = info.parentName
		}
		t.Parent = &detect.Technique{ID: parent, Name: name, Reference: techniqueReference(parent), Tactic: t.Tactic}
	}
	return t
}

func techniqueReference(id string) string {
	return "https://attack.mitre.org/techniques/" + strings.ReplaceAll(id, ".", "/") + "/"
}

// LoadPath compiles the rule files at path: one file, or every .yaml and
// .yml file in a folder (not recursively). A file that fails is returned in
// errs and left out, so that the other rules still run.
func LoadPath(path string) (loaded []detect.Rule, errs []error) {
	files, err := RuleFiles(path)
	if err != nil {
		return nil, []error{err}
	}
	for _, f := range files {
		rule, err := LoadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		loaded = append(loaded, rule)
	}
	return loaded, errs
}

// RuleFiles lists the rule files at path: path itself, or the .yaml and
// .yml files of the folder it names, in name order.
func RuleFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("Rules_Path: %w", err)
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("Rules_Path: %w", err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() && (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) {
			files = append(files, filepath.Join(path, name))
		}
	}
	return files, nil
}

// LoadFile compiles one rule file.
func LoadFile(path string) (detect.Rule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return detect.Rule{}, err
	}
	return Parse(data, path)
}

// Select keeps the shipped rules that spec names: "all" (the default),
// "none", or a comma-separated list of rule ids or names.
func Select(shipped []detect.Rule, spec string) ([]detect.Rule, error) {
	spec = strings.TrimSpace(spec)
	switch strings.ToLower(spec) {
	case "", "all":
		return shipped, nil
	case "none":
		return nil, nil
	}
	var out []detect.Rule
	for _, want := range strings.Split(spec, ",") {
		want = strings.TrimSpace(want)
		found := false
		for _, r := range shipped {
			if r.ID == want || strings.EqualFold(r.Name, want) {
				out = append(out, r)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("invalid Rules entry %q: no shipped rule has that id or name", want)
		}
	}
	return out, nil
}

// conditionColumns lists the columns that the conditions test, in order.
func conditionColumns(where []detect.Condition, expr *detect.Expr) []string {
	var cols []string
	for _, w := range where {
		cols = append(cols, w.Column)
	}
	var walk func(e *detect.Expr)
	walk = func(e *detect.Expr) {
		if e == nil {
			return
		}
		if e.Kind == detect.ExprCondition {
			cols = append(cols, e.Condition.Column)
		}
		for _, c := range e.Children {
			walk(c)
		}
	}
	walk(expr)
	return cols
}

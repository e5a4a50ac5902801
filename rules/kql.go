package rules

import (
	"fmt"
	"strings"

	"github.com/edgehunt/runningrat/cef"
	"github.com/edgehunt/runningrat/detect"
)

// The KQL subset compiled here is what the RunningRAT rule uses:
//
//	let NAME = dynamic(['a', 'b']);      (also @'verbatim' strings)
//	CommonSecurityLog
//	| where COLUMN == "value" [and ...]
//	| where COLUMN has_any (NAME)        (or a literal list)
//	| project COLUMN, ...
//
// Anything else is rejected with its line, column and what was found, so
// that a rule never half-loads.

// token is one lexical unit of a query.
type token struct {
	kind      tokenKind
	text      string // identifier or operator text, or a string's value
	line, col int
}

type tokenKind uint8

const (
	tokEOF tokenKind = iota
	tokIdent
	tokString
	tokPunct // ( ) [ ] , ; | = ==
)

// lex splits a query into tokens, with 1-based line and column numbers.
func lex(query string) ([]token, error) {
	var tokens []token
	line, col := 1, 1
	for i := 0; i < len(query); {
		c := query[i]
		start := token{line: line, col: col}
		advance := func(n int) {
			for _, r := range query[i : i+n] {
				if r == '\n' {
					line, col = line+1, 1
				} else {
					col++
				}
			}
			i += n
		}

		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			advance(1)
		case c == '/' && i+1 < len(query) && query[i+1] == '/':
			end := strings.IndexByte(query[i:], '\n')
			if end < 0 {
				end = len(query) - i
			}
			advance(end)
		case i+1 < len(query) && (query[i:i+2] == "==" || query[i:i+2] == "!=" || query[i:i+2] == "=~" || query[i:i+2] == "!~"):
			start.kind, start.text = tokPunct, query[i:i+2]
			tokens = append(tokens, start)
			advance(2)
		case strings.IndexByte("()[],;|=", c) >= 0:
			start.kind, start.text = tokPunct, string(c)
			tokens = append(tokens, start)
			advance(1)
		case c == '\'' || c == '"' || (c == '@' && i+1 < len(query) && (query[i+1] == '\'' || query[i+1] == '"')):
			value, n, err := lexString(query[i:])
			if err != nil {
				return nil, fmt.Errorf("line %d, column %d: %w", line, col, err)
			}
			start.kind, start.text = tokString, value
			tokens = append(tokens, start)
			advance(n)
		case isIdentChar(c) || c == '!':
			n := 1
			for i+n < len(query) && isIdentChar(query[i+n]) {
				n++
			}
			start.kind, start.text = tokIdent, query[i:i+n]
			tokens = append(tokens, start)
			advance(n)
		default:
			return nil, fmt.Errorf("line %d, column %d: unexpected character %q", line, col, c)
		}
	}
	return append(tokens, token{kind: tokEOF, line: line, col: col}), nil
}

func isIdentChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '~'
}

// lexString reads a KQL string literal: '...' or "..." with backslash
// escapes, or @'...' / @"..." verbatim, where a doubled quote is a quote.
func lexString(s string) (value string, n int, err error) {
	verbatim := s[0] == '@'
	if verbatim {
		s, n = s[1:], 1
	}
	quote := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == quote && verbatim && i+1 < len(s) && s[i+1] == quote:
			b.WriteByte(quote)
			i++
		case c == quote:
			return b.String(), n + i + 1, nil
		case c == '\\' && !verbatim && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(s[i])
			}
		case c == '\n':
			return "", 0, fmt.Errorf("string not closed before the end of the line")
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("string not closed")
}

// parser compiles tokens into a rule's conditions and projection.
type parser struct {
	tokens []token
	pos    int
	lets   map[string][]string
	where  []detect.Condition
	// project is nil until a project operator runs; after it, only the
	// projected columns exist.
	project []string
}

// compileQuery compiles a query of the supported subset.
func compileQuery(query string) (where []detect.Condition, project []string, err error) {
	tokens, err := lex(query)
	if err != nil {
		return nil, nil, err
	}
	p := &parser{tokens: tokens, lets: map[string][]string{}}
	if err := p.parse(); err != nil {
		return nil, nil, err
	}
	if len(p.where) == 0 {
		return nil, nil, fmt.Errorf("the query has no where clause: a rule without a condition would match every record")
	}
	return p.where, p.project, nil
}

func (p *parser) peek() token { return p.tokens[p.pos] }

func (p *parser) next() token {
	t := p.tokens[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *parser) fail(t token, format string, args ...any) error {
	return fmt.Errorf("line %d, column %d: %s", t.line, t.col, fmt.Sprintf(format, args...))
}

func (p *parser) expect(text string) error {
	if t := p.next(); t.kind != tokPunct || t.text != text {
		return p.fail(t, "expected %q, found %q", text, t.text)
	}
	return nil
}

func (p *parser) parse() error {
	for p.peek().kind == tokIdent && p.peek().text == "let" {
		if err := p.parseLet(); err != nil {
			return err
		}
	}

	table := p.next()
	if table.kind != tokIdent || table.text != "CommonSecurityLog" {
		return p.fail(table, "expected the table CommonSecurityLog, found %q: only CommonSecurityLog is supported", table.text)
	}
	for p.peek().kind == tokPunct && p.peek().text == "|" {
		p.next()
		op := p.next()
		switch {
		case op.kind == tokIdent && op.text == "where":
			if err := p.parseWhere(); err != nil {
				return err
			}
		case op.kind == tokIdent && op.text == "project":
			if err := p.parseProject(); err != nil {
				return err
			}
		default:
			return p.fail(op, "tabular operator %q is not supported: use where or project", op.text)
		}
	}
	if p.peek().kind == tokPunct && p.peek().text == ";" {
		p.next()
	}
	if t := p.peek(); t.kind != tokEOF {
		return p.fail(t, "unexpected %q after the query", t.text)
	}
	return nil
}

// parseLet reads: let NAME = dynamic([ 'a', ... ]);
func (p *parser) parseLet() error {
	p.next()
	name := p.next()
	if name.kind != tokIdent {
		return p.fail(name, "expected a name after let, found %q", name.text)
	}
	if err := p.expect("="); err != nil {
		return err
	}
	fn := p.next()
	if fn.kind != tokIdent || fn.text != "dynamic" {
		return p.fail(fn, "let %s: only dynamic([...]) string arrays are supported, found %q", name.text, fn.text)
	}
	if err := p.expect("("); err != nil {
		return err
	}
	values, err := p.parseList("[", "]")
	if err != nil {
		return err
	}
	if err := p.expect(")"); err != nil {
		return err
	}
	if err := p.expect(";"); err != nil {
		return err
	}
	p.lets[name.text] = values
	return nil
}

// parseList reads open, string literals separated by commas, and close.
func (p *parser) parseList(open, close string) ([]string, error) {
	if err := p.expect(open); err != nil {
		return nil, err
	}
	var values []string
	for {
		t := p.next()
		if t.kind == tokPunct && t.text == close && len(values) == 0 {
			return values, nil
		}
		if t.kind != tokString {
			return nil, p.fail(t, "expected a string in the list, found %q", t.text)
		}
		values = append(values, t.text)
		sep := p.next()
		if sep.kind == tokPunct && sep.text == close {
			return values, nil
		}
		if sep.kind != tokPunct || sep.text != "," {
			return nil, p.fail(sep, "expected \",\" or %q, found %q", close, sep.text)
		}
	}
}

// parseWhere reads comparisons joined by "and".
func (p *parser) parseWhere() error {
	for {
		if err := p.parseComparison(); err != nil {
			return err
		}
		if t := p.peek(); t.kind == tokIdent && t.text == "and" {
			p.next()
			continue
		}
		return nil
	}
}

// scalarOps are the operators that take one string, listOps those that
// take a parenthesised list or a let array.
var (
	scalarOps = map[string]detect.Op{
		"==": detect.Equals, "!=": detect.NotEquals, "=~": detect.EqualsFold, "!~": detect.NotEqualsFold,
		"has": detect.HasAll, "!has": detect.NotHas, "has_cs": detect.HasCS,
		"contains": detect.Contains, "!contains": detect.NotContains, "contains_cs": detect.ContainsCS,
		"startswith": detect.StartsWith, "endswith": detect.EndsWith,
	}
	listOps = map[string]detect.Op{
		"has_any": detect.HasAny, "has_all": detect.HasAll,
		"in": detect.In, "in~": detect.InFold, "!in": detect.NotIn,
	}
)

const supportedOps = "==, !=, =~, !~, has, !has, has_cs, has_any, has_all, contains, !contains, contains_cs, startswith, endswith, in, in~, !in, matches regex, isempty(), isnotempty()"

func (p *parser) parseComparison() error {
	col := p.next()
	if col.kind == tokIdent && (col.text == "isempty" || col.text == "isnotempty") {
		return p.parseEmptiness(col)
	}
	if col.kind != tokIdent {
		return p.fail(col, "expected a column name, found %q", col.text)
	}
	if err := p.checkColumn(col); err != nil {
		return err
	}

	op := p.next()
	if op.kind == tokIdent && op.text == "matches" {
		if kw := p.next(); kw.kind != tokIdent || kw.text != "regex" {
			return p.fail(kw, "expected \"regex\" after matches, found %q", kw.text)
		}
		value := p.next()
		if value.kind != tokString {
			return p.fail(value, "%s matches regex needs a string, found %q", col.text, value.text)
		}
		p.where = append(p.where, detect.Condition{Column: col.text, Op: detect.MatchesRegex, Values: []string{value.text}})
		return nil
	}
	if code, ok := scalarOps[op.text]; ok {
		value := p.next()
		if value.kind != tokString {
			return p.fail(value, "%s %s needs a string, found %q", col.text, op.text, value.text)
		}
		p.where = append(p.where, detect.Condition{Column: col.text, Op: code, Values: []string{value.text}})
		return nil
	}
	if code, ok := listOps[op.text]; ok {
		values, err := p.parseHasAnyValues()
		if err != nil {
			return err
		}
		p.where = append(p.where, detect.Condition{Column: col.text, Op: code, Values: values})
		return nil
	}
	return p.fail(op, "operator %q is not supported: use %s", op.text, supportedOps)
}

// parseEmptiness reads isempty(COLUMN) or isnotempty(COLUMN).
func (p *parser) parseEmptiness(fn token) error {
	if err := p.expect("("); err != nil {
		return err
	}
	col := p.next()
	if col.kind != tokIdent {
		return p.fail(col, "%s needs a column, found %q", fn.text, col.text)
	}
	if err := p.checkColumn(col); err != nil {
		return err
	}
	if err := p.expect(")"); err != nil {
		return err
	}
	op := detect.IsEmpty
	if fn.text == "isnotempty" {
		op = detect.IsNotEmpty
	}
	p.where = append(p.where, detect.Condition{Column: col.text, Op: op})
	return nil
}

// parseHasAnyValues reads ( NAME ) for a let array or ( 'a', 'b' ).
func (p *parser) parseHasAnyValues() ([]string, error) {
	if t := p.tokens[p.pos+1]; p.peek().text == "(" && t.kind == tokIdent {
		p.next()
		name := p.next()
		values, ok := p.lets[name.text]
		if !ok {
			return nil, p.fail(name, "%q is not defined by a let statement", name.text)
		}
		return values, p.expect(")")
	}
	return p.parseList("(", ")")
}

func (p *parser) parseProject() error {
	var cols []string
	for {
		col := p.next()
		if col.kind != tokIdent {
			return p.fail(col, "expected a column to project, found %q", col.text)
		}
		if col.text != "TimeGenerated" {
			if err := p.checkColumn(col); err != nil {
				return err
			}
		}
		cols = append(cols, col.text)
		if t := p.peek(); t.kind == tokPunct && t.text == "," {
			p.next()
			continue
		}
		p.project = cols
		return nil
	}
}

// checkColumn rejects a column that CommonSecurityLog lacks or that an
// earlier project removed.
func (p *parser) checkColumn(col token) error {
	if _, ok := cef.ColumnByName(col.text); !ok {
		return p.fail(col, "unknown CommonSecurityLog column %q", col.text)
	}
	if p.project != nil && !contains(p.project, col.text) {
		return p.fail(col, "column %q was removed by an earlier project", col.text)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

package rules

import (
	"fmt"
	"strings"

	"github.com/edgehunt/runningrat/cef"
	"github.com/edgehunt/runningrat/detect"
)

// The KQL subset compiled here:
//
//	let NAME = dynamic(['a', 'b']);          (also @'verbatim' strings)
//	CommonSecurityLog
//	| where EXPR                             (comparisons with and, or, not(), parentheses)
//	| project COLUMN, ...
//
// A comparison is COLUMN OP VALUE. COLUMN may be wrapped in tolower() or
// toupper(), OP is one of supportedOps, and VALUE is a string, a list, a
// let array, or NAME[i] / tostring(NAME[i]). isempty(COLUMN) and
// isnotempty(COLUMN) are comparisons of their own. Anything else is rejected with its line,
// column and what was found, so that a rule never half-loads.

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
	// clauses holds one expression per where operator; they all must hold.
	clauses []*detect.Expr
	// project is nil until a project operator runs; after it, only the
	// projected columns exist.
	project []string
}

// compileQuery compiles a query of the supported subset. A query whose
// where clauses are only comparisons joined by "and" becomes a list of
// conditions, which extended mode can relax. A query with or, not() or
// parentheses becomes an expression, which is evaluated exactly.
func compileQuery(query string) (where []detect.Condition, expr *detect.Expr, project []string, err error) {
	tokens, err := lex(query)
	if err != nil {
		return nil, nil, nil, err
	}
	p := &parser{tokens: tokens, lets: map[string][]string{}}
	if err := p.parse(); err != nil {
		return nil, nil, nil, err
	}
	if len(p.clauses) == 0 {
		return nil, nil, nil, fmt.Errorf("the query has no where clause: a rule without a condition would match every record")
	}

	for _, clause := range p.clauses {
		conds, ok := flatAnd(clause)
		if !ok {
			if len(p.clauses) == 1 {
				return nil, p.clauses[0], p.project, nil
			}
			return nil, &detect.Expr{Kind: detect.ExprAnd, Children: p.clauses}, p.project, nil
		}
		where = append(where, conds...)
	}
	return where, nil, p.project, nil
}

// flatAnd returns the conditions of an expression that is one condition or
// an "and" of conditions.
func flatAnd(e *detect.Expr) ([]detect.Condition, bool) {
	switch e.Kind {
	case detect.ExprCondition:
		return []detect.Condition{e.Condition}, true
	case detect.ExprAnd:
		var out []detect.Condition
		for _, c := range e.Children {
			conds, ok := flatAnd(c)
			if !ok {
				return nil, false
			}
			out = append(out, conds...)
		}
		return out, true
	}
	return nil, false
}

func (p *parser) peek() token { return p.tokens[p.pos] }

// peekSecond returns the token after the next one, or the EOF token that
// ends every token list.
func (p *parser) peekSecond() token {
	if p.pos+1 < len(p.tokens) {
		return p.tokens[p.pos+1]
	}
	return p.tokens[len(p.tokens)-1]
}

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

// parseWhere reads one where clause: comparisons combined with or, and,
// not() and parentheses, with the usual precedence (not, and, or).
func (p *parser) parseWhere() error {
	e, err := p.parseOr()
	if err != nil {
		return err
	}
	p.clauses = append(p.clauses, e)
	return nil
}

func (p *parser) parseOr() (*detect.Expr, error) {
	return p.parseChain("or", detect.ExprOr, p.parseAnd)
}

func (p *parser) parseAnd() (*detect.Expr, error) {
	return p.parseChain("and", detect.ExprAnd, p.parseUnary)
}

// parseChain reads operands joined by the keyword word.
func (p *parser) parseChain(word string, kind detect.ExprKind, operand func() (*detect.Expr, error)) (*detect.Expr, error) {
	first, err := operand()
	if err != nil {
		return nil, err
	}
	children := []*detect.Expr{first}
	for t := p.peek(); t.kind == tokIdent && t.text == word; t = p.peek() {
		p.next()
		next, err := operand()
		if err != nil {
			return nil, err
		}
		children = append(children, next)
	}
	if len(children) == 1 {
		return first, nil
	}
	return &detect.Expr{Kind: kind, Children: children}, nil
}

func (p *parser) parseUnary() (*detect.Expr, error) {
	t := p.peek()
	switch {
	case t.kind == tokIdent && t.text == "not":
		p.next()
		if err := p.expect("("); err != nil {
			return nil, err
		}
		inner, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		return &detect.Expr{Kind: detect.ExprNot, Children: []*detect.Expr{inner}}, nil
	case t.kind == tokPunct && t.text == "(":
		p.next()
		inner, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		return inner, p.expect(")")
	}
	cond, err := p.parseComparison()
	if err != nil {
		return nil, err
	}
	return &detect.Expr{Kind: detect.ExprCondition, Condition: cond}, nil
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

const supportedOps = "==, !=, =~, !~, has, !has, has_cs, has_any, has_all, contains, !contains, contains_cs, startswith, endswith, in, in~, !in, matches regex, isempty(), isnotempty(), with or, and, not() and parentheses"

func (p *parser) parseComparison() (detect.Condition, error) {
	col := p.next()
	if col.kind == tokIdent && (col.text == "isempty" || col.text == "isnotempty") {
		return p.parseEmptiness(col)
	}
	transform := ""
	if col.kind == tokIdent && (col.text == "tolower" || col.text == "toupper") {
		transform = col.text
		if err := p.expect("("); err != nil {
			return detect.Condition{}, err
		}
		col = p.next()
		if err := p.expect(")"); err != nil {
			return detect.Condition{}, err
		}
	}
	if col.kind != tokIdent {
		return detect.Condition{}, p.fail(col, "expected a column name, found %q", col.text)
	}
	if err := p.checkColumn(col); err != nil {
		return detect.Condition{}, err
	}
	cond := detect.Condition{Column: col.text, Transform: transform}

	op := p.next()
	if op.kind == tokIdent && op.text == "matches" {
		if kw := p.next(); kw.kind != tokIdent || kw.text != "regex" {
			return cond, p.fail(kw, "expected \"regex\" after matches, found %q", kw.text)
		}
		value, err := p.parseScalar(col.text + " matches regex")
		if err != nil {
			return cond, err
		}
		cond.Op, cond.Values = detect.MatchesRegex, []string{value}
		return cond, nil
	}
	if code, ok := scalarOps[op.text]; ok {
		value, err := p.parseScalar(col.text + " " + op.text)
		if err != nil {
			return cond, err
		}
		cond.Op, cond.Values = code, []string{value}
		return cond, nil
	}
	if code, ok := listOps[op.text]; ok {
		values, err := p.parseHasAnyValues()
		if err != nil {
			return cond, err
		}
		cond.Op, cond.Values = code, values
		return cond, nil
	}
	return cond, p.fail(op, "operator %q is not supported: use %s", op.text, supportedOps)
}

// parseScalar reads a string literal, or an element of a let array as
// NAME[i] or tostring(NAME[i]).
func (p *parser) parseScalar(what string) (string, error) {
	t := p.next()
	if t.kind == tokString {
		return t.text, nil
	}
	wrapped := t.kind == tokIdent && t.text == "tostring"
	if wrapped {
		if err := p.expect("("); err != nil {
			return "", err
		}
		t = p.next()
	}
	if t.kind != tokIdent {
		return "", p.fail(t, "%s needs a string, found %q", what, t.text)
	}
	values, ok := p.lets[t.text]
	if !ok {
		return "", p.fail(t, "%s needs a string, found %q", what, t.text)
	}
	if err := p.expect("["); err != nil {
		return "", err
	}
	index := p.next()
	var i int
	if _, err := fmt.Sscanf(index.text, "%d", &i); err != nil || index.kind != tokIdent || i < 0 || i >= len(values) {
		return "", p.fail(index, "index %q is not within %s, which has %d values", index.text, t.text, len(values))
	}
	if err := p.expect("]"); err != nil {
		return "", err
	}
	if wrapped {
		if err := p.expect(")"); err != nil {
			return "", err
		}
	}
	return values[i], nil
}

// parseEmptiness reads isempty(COLUMN) or isnotempty(COLUMN).
func (p *parser) parseEmptiness(fn token) (detect.Condition, error) {
	if err := p.expect("("); err != nil {
		return detect.Condition{}, err
	}
	col := p.next()
	if col.kind != tokIdent {
		return detect.Condition{}, p.fail(col, "%s needs a column, found %q", fn.text, col.text)
	}
	if err := p.checkColumn(col); err != nil {
		return detect.Condition{}, err
	}
	if err := p.expect(")"); err != nil {
		return detect.Condition{}, err
	}
	op := detect.IsEmpty
	if fn.text == "isnotempty" {
		op = detect.IsNotEmpty
	}
	return detect.Condition{Column: col.text, Op: op}, nil
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

// parseHasAnyValues reads ( NAME ) for a let array or ( 'a', 'b' ).
func (p *parser) parseHasAnyValues() ([]string, error) {
	if t := p.peekSecond(); p.peek().text == "(" && t.kind == tokIdent {
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

package detect

import (
	"bytes"
	"fmt"
	"regexp"

	"github.com/edgehunt/runningrat/cef"
)

// Mode selects which verdicts a compiled rule raises.
type Mode uint8

const (
	// Exact raises only what Microsoft Sentinel's rule raises.
	Exact Mode = iota + 1
	// Extended also raises the near misses that carry the same indicators
	// (see Compiled.Evaluate), flagged with their reasons.
	Extended
)

// ParseMode parses "exact" or "extended".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "exact":
		return Exact, nil
	case "extended":
		return Extended, nil
	}
	return 0, fmt.Errorf("invalid detection mode %q: use exact or extended", s)
}

func (m Mode) String() string {
	if m == Exact {
		return "exact"
	}
	return "extended"
}

// Verdict is the outcome of evaluating a rule on one record.
type Verdict uint8

const (
	NoMatch       Verdict = iota
	ExactMatch            // Sentinel's rule matches
	ExtendedMatch         // only a lenient reading matches
)

func (v Verdict) String() string {
	switch v {
	case ExactMatch:
		return "exact"
	case ExtendedMatch:
		return "extended"
	}
	return "none"
}

// Match describes why a rule matched a record. Values borrow from the
// record; Alert copies what it keeps.
type Match struct {
	Verdict Verdict
	// Reasons name each leniency that an extended match needed, as
	// "<Column>.<reason>", for example "RequestMethod.case_or_blank".
	Reasons []string
	// Indicators are the has_any values found, as the rule writes them.
	Indicators []string
	// Evidence holds, per condition, the value that satisfied it (decoded
	// where a decoding was needed).
	Evidence []ColumnValue
}

// ColumnValue is one column of a record.
type ColumnValue struct {
	Column string
	Value  []byte
}

// Compiled is a rule ready to evaluate. It is safe for concurrent use.
type Compiled struct {
	Rule       *Rule
	conditions []condition
	// tree is the compiled Rule.Expr, or nil for a list of conditions.
	tree     *node
	project  []projected
	entities []entity
}

// node is a compiled Expr; cond indexes Compiled.conditions.
type node struct {
	kind     ExprKind
	cond     int
	children []*node
}

type condition struct {
	name      string
	column    cef.Column
	op        Op
	transform string
	equals    [][]byte
	terms     *termMatcher
	regex     *regexp.Regexp
	// exactScan and lenientScan are the raw-text prefilters of a has_any
	// condition, for exact and extended mode. keyFinder finds the raw
	// values of the column's CEF key.
	exactScan, lenientScan *prefilter
	keyFinder              cef.KeyFinder
	hasKey                 bool
}

type projected struct {
	name   string
	column cef.Column // zero for TimeGenerated
}

type entity struct {
	EntityMapping
	column cef.Column
}

// Compile checks a rule and prepares it for evaluation.
func Compile(rule *Rule) (*Compiled, error) {
	c := &Compiled{Rule: rule}
	switch {
	case rule.Expr != nil && len(rule.Where) > 0:
		return nil, fmt.Errorf("rule %s has both Where and Expr", rule.ID)
	case rule.Expr != nil:
		tree, err := c.compileExpr(rule.Expr)
		if err != nil {
			return nil, err
		}
		c.tree = tree
	case len(rule.Where) == 0:
		return nil, fmt.Errorf("rule %s has no conditions", rule.ID)
	}

	for _, w := range rule.Where {
		cond, err := compileCondition(rule, w)
		if err != nil {
			return nil, err
		}
		c.conditions = append(c.conditions, cond)
	}

	for _, name := range rule.Project {
		if name == "TimeGenerated" {
			c.project = append(c.project, projected{name: name})
			continue
		}
		col, ok := cef.ColumnByName(name)
		if !ok {
			return nil, fmt.Errorf("rule %s: unknown projected column %q", rule.ID, name)
		}
		c.project = append(c.project, projected{name: name, column: col})
	}
	for _, e := range rule.Entities {
		col, ok := cef.ColumnByName(e.Column)
		if !ok {
			return nil, fmt.Errorf("rule %s: unknown entity column %q", rule.ID, e.Column)
		}
		c.entities = append(c.entities, entity{EntityMapping: e, column: col})
	}
	return c, nil
}

// compileCondition prepares one condition of a rule.
func compileCondition(rule *Rule, w Condition) (condition, error) {
	col, ok := cef.ColumnByName(w.Column)
	if !ok {
		return condition{}, fmt.Errorf("rule %s: unknown column %q", rule.ID, w.Column)
	}
	cond := condition{name: w.Column, column: col, op: w.Op}
	switch w.Op {
	case Equals:
		for _, v := range w.Values {
			cond.equals = append(cond.equals, []byte(v))
		}
	case HasAny:
		cond.terms = newTermMatcher(w.Values)
		cond.exactScan = newPrefilter(w.Values, false)
		cond.lenientScan = newPrefilter(w.Values, true)
		if key := col.Key(); key != "" {
			cond.keyFinder, cond.hasKey = cef.NewKeyFinder(key), true
		}
	case NotEquals, EqualsFold, NotEqualsFold, Contains, NotContains, ContainsCS,
		StartsWith, EndsWith, In, InFold, NotIn, IsEmpty, IsNotEmpty:
		for _, v := range w.Values {
			cond.equals = append(cond.equals, []byte(v))
		}
	case HasAll, NotHas:
		cond.terms = newTermMatcher(w.Values)
	case HasCS:
		cond.terms = newTermMatcher(w.Values)
		cond.terms.caseSensitive = true
	case MatchesRegex:
		if len(w.Values) != 1 {
			return condition{}, fmt.Errorf("rule %s: column %s: matches regex needs one pattern", rule.ID, w.Column)
		}
		re, err := regexp.Compile(w.Values[0])
		if err != nil {
			return condition{}, fmt.Errorf("rule %s: column %s: invalid regular expression: %w", rule.ID, w.Column, err)
		}
		cond.regex = re
	default:
		return condition{}, fmt.Errorf("rule %s: column %s: unsupported operator %d", rule.ID, w.Column, w.Op)
	}
	if w.Transform != "" && w.Transform != "tolower" && w.Transform != "toupper" {
		return condition{}, fmt.Errorf("rule %s: column %s: unsupported function %q", rule.ID, w.Column, w.Transform)
	}
	cond.transform = w.Transform
	return cond, nil
}

// compileExpr compiles an expression tree, appending its conditions.
func (c *Compiled) compileExpr(e *Expr) (*node, error) {
	switch e.Kind {
	case ExprCondition:
		cond, err := compileCondition(c.Rule, e.Condition)
		if err != nil {
			return nil, err
		}
		c.conditions = append(c.conditions, cond)
		return &node{kind: ExprCondition, cond: len(c.conditions) - 1}, nil
	case ExprAnd, ExprOr, ExprNot:
		if e.Kind == ExprNot && len(e.Children) != 1 || e.Kind != ExprNot && len(e.Children) < 2 {
			return nil, fmt.Errorf("rule %s: malformed expression", c.Rule.ID)
		}
		n := &node{kind: e.Kind}
		for _, child := range e.Children {
			cn, err := c.compileExpr(child)
			if err != nil {
				return nil, err
			}
			n.children = append(n.children, cn)
		}
		return n, nil
	}
	return nil, fmt.Errorf("rule %s: unknown expression kind %d", c.Rule.ID, e.Kind)
}

// evaluateTree evaluates a rule's expression exactly, collecting the
// conditions that held as evidence and the has_any values found.
func (c *Compiled) evaluateTree(n *node, rec *cef.Record, m *Match) bool {
	switch n.kind {
	case ExprCondition:
		return c.conditions[n.cond].test(rec, m)
	case ExprAnd:
		for _, child := range n.children {
			if !c.evaluateTree(child, rec, m) {
				return false
			}
		}
		return true
	case ExprOr:
		for _, child := range n.children {
			if c.evaluateTree(child, rec, m) {
				return true
			}
		}
		return false
	case ExprNot:
		// Evidence from inside a not() would show values that did not
		// match, so it is dropped.
		saved := len(m.Evidence)
		inner := c.evaluateTree(n.children[0], rec, m)
		m.Evidence = m.Evidence[:saved]
		return !inner
	}
	return false
}

// test evaluates the condition exactly on rec. When it holds, it adds the
// value to m's evidence and, for has_any, the values found to m's
// indicators.
func (cond *condition) test(rec *cef.Record, m *Match) bool {
	v := cond.valueOf(rec)
	var ok bool
	switch cond.op {
	case Equals:
		ok = cond.equalsAny(v)
	case HasAny:
		ok = cond.terms.matchAny(v)
		if ok {
			m.Indicators = cond.terms.appendMatches(m.Indicators, v)
		}
	default:
		ok = cond.holds(v)
	}
	if ok {
		m.Evidence = append(m.Evidence, ColumnValue{Column: cond.name, Value: v})
	}
	return ok
}

// valueOf returns the condition's column value after the query's
// tolower() or toupper(), if any.
func (cond *condition) valueOf(rec *cef.Record) []byte {
	return cond.transformed(rec.Value(cond.column))
}

func (cond *condition) transformed(v []byte) []byte {
	switch cond.transform {
	case "tolower":
		return bytes.ToLower(v)
	case "toupper":
		return bytes.ToUpper(v)
	}
	return v
}

// MayMatch reports whether the raw text of a record (a CEF line) could
// match in the given mode. False means that parsing the line is wasted work,
// so it must never be false for a line that Evaluate would match.
//
// For each has_any condition it looks only at the raw values of the
// column's CEF key (cef.RawValues, in any letter case in extended mode),
// because a match needs the needle in that value: a line without the key
// cannot match, and a typical line is searched over its URL instead of its
// whole length.
func (c *Compiled) MayMatch(text []byte, mode Mode) bool {
	if c.tree != nil {
		return true
	}
	for i := range c.conditions {
		cond := &c.conditions[i]
		if cond.op != HasAny {
			continue
		}
		scan := cond.exactScan
		if mode == Extended {
			scan = cond.lenientScan
		}

		if !cond.hasKey {
			// A header field: no key to narrow the search to.
			if !scan.mayMatch(text) {
				return false
			}
			continue
		}
		values := cond.keyFinder.Values(text, mode == Extended)
		found := false
		for v, ok := values.Next(); ok && !found; v, ok = values.Next() {
			found = scan.mayMatch(v)
		}
		if !found {
			return false
		}
	}
	return true
}

// Evaluate decides the rule on rec and fills m. In Exact mode it reproduces
// Sentinel: "==" compares bytes, has_any is the term match described at
// needle.matches, a missing column is empty, and a key given twice counts
// with its last value. Extended mode, when the exact verdict is no match,
// also accepts, each named in m.Reasons:
//   - for "==": the value in another letter case or with blanks around it
//     (case_or_blank), or an empty or missing value (missing);
//   - for has_any: the value after decoding "\/" (escaped_slash), %XX
//     (percent_encoded) or Unicode case folding (unicode_case_fold);
//   - for any column: the value of an earlier duplicate key
//     (duplicate_key) or of a key in another letter case (key_case).
//
// An explicit other value, such as POST for GET, never matches.
func (c *Compiled) Evaluate(rec *cef.Record, mode Mode, m *Match) Verdict {
	*m = Match{Reasons: m.Reasons[:0], Indicators: m.Indicators[:0], Evidence: m.Evidence[:0]}

	if c.tree != nil {
		if c.evaluateTree(c.tree, rec, m) {
			m.Verdict = ExactMatch
			return m.Verdict
		}
		*m = Match{Reasons: m.Reasons[:0], Indicators: m.Indicators[:0], Evidence: m.Evidence[:0]}
		return NoMatch
	}

	if c.evaluateExact(rec, m) {
		m.Verdict = ExactMatch
		return m.Verdict
	}
	m.Indicators = m.Indicators[:0]
	m.Evidence = m.Evidence[:0]
	if mode == Extended && c.evaluateLenient(rec, m) {
		m.Verdict = ExtendedMatch
		return m.Verdict
	}

	*m = Match{Reasons: m.Reasons[:0], Indicators: m.Indicators[:0], Evidence: m.Evidence[:0]}
	return NoMatch
}

func (c *Compiled) evaluateExact(rec *cef.Record, m *Match) bool {
	for i := range c.conditions {
		if !c.conditions[i].test(rec, m) {
			return false
		}
	}
	return true
}

// option is one way a condition can be satisfied leniently.
type option struct {
	value   []byte
	reasons []string
	found   []string
}

func (c *Compiled) evaluateLenient(rec *cef.Record, m *Match) bool {
	var candidates []cef.Candidate
	for i := range c.conditions {
		cond := &c.conditions[i]
		candidates = rec.AppendCandidates(candidates[:0], cond.column)
		if len(candidates) == 0 {
			candidates = append(candidates, cef.Candidate{})
		}

		best, ok := cond.bestOption(candidates)
		if !ok {
			return false
		}
		for _, r := range best.reasons {
			m.Reasons = append(m.Reasons, cond.name+"."+r)
		}
		m.Indicators = append(m.Indicators, best.found...)
		m.Evidence = append(m.Evidence, ColumnValue{Column: cond.name, Value: best.value})
	}
	return true
}

// bestOption returns the lenient reading of the condition with the fewest
// reasons, the earliest candidate winning a tie.
func (cond *condition) bestOption(candidates []cef.Candidate) (option, bool) {
	var best option
	found := false
	for _, cand := range candidates {
		var base []string
		if cand.Superseded {
			base = append(base, "duplicate_key")
		}
		if cand.KeyCaseDiffers {
			base = append(base, "key_case")
		}

		opt, ok := cond.lenientOption(cond.transformed(cand.Value))
		if !ok {
			continue
		}
		opt.reasons = append(base, opt.reasons...)
		if !found || len(opt.reasons) < len(best.reasons) {
			best, found = opt, true
		}
	}
	return best, found
}

func (cond *condition) lenientOption(v []byte) (option, bool) {
	switch cond.op {
	case Equals:
		if cond.equalsAny(v) {
			return option{value: v}, true
		}
		if len(bytes.TrimSpace(v)) == 0 {
			return option{value: v, reasons: []string{"missing"}}, true
		}
		for _, want := range cond.equals {
			if bytes.EqualFold(bytes.TrimSpace(v), want) {
				return option{value: v, reasons: []string{"case_or_blank"}}, true
			}
		}

	case HasAny:
		if cond.terms.matchAny(v) {
			return option{value: v, found: cond.terms.appendMatches(nil, v)}, true
		}
		if !hasDecodable(v) {
			return option{}, false
		}
		// Try the decodings alone before combining them, so that the reasons
		// name no more decodings than the match needed.
		for _, flags := range decodingOrder {
			decoded, ok := applyDecodings(v, flags)
			if !ok || !cond.terms.matchAny(decoded) {
				continue
			}
			opt := option{value: decoded, found: cond.terms.appendMatches(nil, decoded)}
			for _, d := range decodeReasons {
				if flags&d.flag != 0 {
					opt.reasons = append(opt.reasons, d.reason)
				}
			}
			return opt, true
		}

	default:
		if cond.holds(v) {
			return option{value: v}, true
		}
	}
	return option{}, false
}

// decodingOrder lists the combinations of decodings, smallest first.
var decodingOrder = []int{
	decodeEscapedSlash,
	decodePercent,
	decodeUnicodeFold,
	decodeEscapedSlash | decodePercent,
	decodeEscapedSlash | decodeUnicodeFold,
	decodePercent | decodeUnicodeFold,
	decodeEscapedSlash | decodePercent | decodeUnicodeFold,
}

func (cond *condition) equalsAny(v []byte) bool {
	for _, want := range cond.equals {
		if bytes.Equal(v, want) {
			return true
		}
	}
	return false
}

// holds evaluates the operators other than == and has_any on v.
func (cond *condition) holds(v []byte) bool {
	switch cond.op {
	case NotEquals:
		return !cond.equalsAny(v)
	case EqualsFold, InFold:
		return cond.equalsFoldAny(v)
	case NotEqualsFold:
		return !cond.equalsFoldAny(v)
	case In:
		return cond.equalsAny(v)
	case NotIn:
		return !cond.equalsAny(v)
	case HasAll, HasCS:
		return cond.terms.matchAll(v)
	case NotHas:
		return !cond.terms.matchAny(v)
	case Contains:
		return cond.anyValue(func(want []byte) bool { return indexFold(v, want) >= 0 })
	case NotContains:
		return !cond.anyValue(func(want []byte) bool { return indexFold(v, want) >= 0 })
	case ContainsCS:
		return cond.anyValue(func(want []byte) bool { return bytes.Contains(v, want) })
	case StartsWith:
		return cond.anyValue(func(want []byte) bool { return len(v) >= len(want) && equalFoldBytes(v[:len(want)], want) })
	case EndsWith:
		return cond.anyValue(func(want []byte) bool { return len(v) >= len(want) && equalFoldBytes(v[len(v)-len(want):], want) })
	case MatchesRegex:
		return cond.regex.Match(v)
	case IsEmpty:
		return len(v) == 0
	case IsNotEmpty:
		return len(v) > 0
	}
	return false
}

func (cond *condition) anyValue(match func(want []byte) bool) bool {
	for _, want := range cond.equals {
		if match(want) {
			return true
		}
	}
	return false
}

func (cond *condition) equalsFoldAny(v []byte) bool {
	return cond.anyValue(func(want []byte) bool { return equalFoldBytes(v, want) })
}

// equalFoldBytes compares ignoring ASCII case only.
func equalFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

// indexFold finds want in v ignoring ASCII case, or returns -1.
func indexFold(v, want []byte) int {
	if len(want) == 0 {
		return 0
	}
	for i := 0; i+len(want) <= len(v); i++ {
		if equalFoldBytes(v[i:i+len(want)], want) {
			return i
		}
	}
	return -1
}

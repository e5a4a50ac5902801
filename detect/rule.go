// Package detect evaluates detection rules on CEF records and builds the
// alerts they raise. A rule is data: metadata, MITRE mapping, entity
// mappings and a list of conditions. Compile turns it into a matcher that
// reproduces Microsoft Sentinel's KQL semantics exactly. In extended mode
// the matcher also reports the near misses that Sentinel's rule lets through.
package detect

// Op is a KQL string operator.
type Op uint8

const (
	// Equals is KQL "==": case-sensitive, no trimming.
	Equals Op = iota + 1
	// HasAny is KQL "has_any": true when any value is a term match (see
	// hasTerm) of the column, ignoring ASCII case.
	HasAny

	// The operators below are evaluated exactly in both modes: extended
	// mode relaxes only == and has_any. Case-insensitive ones fold ASCII
	// letters only, as has_any does. Their semantics follow Kusto's string
	// operator table (https://learn.microsoft.com/kusto/query/datatypes-string-operators),
	// the in operators (https://learn.microsoft.com/kusto/query/in-operator)
	// and RE2 for matches regex (https://learn.microsoft.com/kusto/query/re2).
	NotEquals     // !=: case-sensitive inequality
	EqualsFold    // =~: equality ignoring case
	NotEqualsFold // !~
	HasAll        // has_all: every value is a term match; has is has_all of one value
	NotHas        // !has: no value is a term match
	HasCS         // has_cs: term match, case-sensitive
	Contains      // contains: substring, ignoring case
	NotContains   // !contains
	ContainsCS    // contains_cs: substring, case-sensitive
	StartsWith    // startswith: prefix, ignoring case
	EndsWith      // endswith: suffix, ignoring case
	In            // in: equal to one of the values, case-sensitive
	InFold        // in~: equal to one of the values, ignoring case
	NotIn         // !in
	MatchesRegex  // matches regex: RE2 search, case-sensitive like Kusto
	IsEmpty       // isempty(): the column is empty or missing
	IsNotEmpty    // isnotempty()
)

// Condition is one "where" clause of a rule: Column Op Values.
type Condition struct {
	Column string // CommonSecurityLog column name
	Op     Op
	Values []string
	// Transform is applied to the column's value before the comparison:
	// "tolower", "toupper" or "" for none.
	Transform string
}

// ExprKind is the kind of a node of a boolean expression.
type ExprKind uint8

const (
	ExprCondition ExprKind = iota + 1
	ExprAnd
	ExprOr
	ExprNot
)

// Expr is a boolean expression over conditions, for queries that need or,
// not() or parentheses.
type Expr struct {
	Kind      ExprKind
	Condition Condition // for ExprCondition
	Children  []*Expr   // for ExprAnd and ExprOr (two or more), ExprNot (one)
}

// Tactic is a MITRE ATT&CK tactic.
type Tactic struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Reference string `json:"reference"`
}

// Technique is a MITRE ATT&CK technique or sub-technique. A sub-technique
// names its parent technique.
type Technique struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Reference string     `json:"reference"`
	Tactic    string     `json:"tactic"` // the tactic id it serves in this rule
	Parent    *Technique `json:"parent,omitempty"`
}

// EntityMapping maps a column to a Sentinel entity identifier, such as
// SourceIP to the Address of an IP entity.
type EntityMapping struct {
	Type       string // Sentinel entity type: ip, host, url
	Identifier string // Sentinel identifier: Address, HostName, Url
	Column     string
}

// Rule is a detection rule as data.
type Rule struct {
	ID          string
	Name        string
	Version     string
	Severity    string
	Description string
	Reference   string
	Tactics     []Tactic
	Techniques  []Technique
	Tags        []string
	Entities    []EntityMapping
	// Project lists the columns copied into an alert's event, in order.
	Project []string
	// Where is the list of conditions, all of which must hold.
	Where []Condition
	// Expr, when set, replaces Where with a boolean expression. Such a rule
	// is evaluated exactly in both modes, and its records are not
	// prefiltered.
	Expr *Expr
}

// RunningRAT is Microsoft Sentinel's analytic rule "RunningRAT request
// parameters" (Azure-Sentinel Detections/CommonSecurityLog/
// CreepySnailURLParameters.yaml):
//
//	CommonSecurityLog
//	| where RequestMethod == "GET"
//	| where RequestURL has_any ('/ui/chk', 'mactok=', 'UsRnMe=', 'IlocalP=', 'kMnD=')
var RunningRAT = Rule{
	ID:       "baedfdf4-7cc8-45a1-81a9-065821628b83",
	Name:     "RunningRAT request parameters",
	Version:  "1.0.2",
	Severity: "High",
	Description: "GET requests whose URL carries the parameters of the RunningRAT " +
		"(CreepySnail) implant used by POLONIUM.",
	Reference: "https://github.com/Azure/Azure-Sentinel/blob/master/Detections/CommonSecurityLog/CreepySnailURLParameters.yaml",
	Tactics: []Tactic{
		{ID: "TA0010", Name: "Exfiltration", Reference: "https://attack.mitre.org/tactics/TA0010/"},
		{ID: "TA0011", Name: "Command and Control", Reference: "https://attack.mitre.org/tactics/TA0011/"},
	},
	Techniques: []Technique{
		{ID: "T1041", Name: "Exfiltration Over C2 Channel", Reference: "https://attack.mitre.org/techniques/T1041/", Tactic: "TA0010"},
		{ID: "T1071.001", Name: "Web Protocols", Reference: "https://attack.mitre.org/techniques/T1071/001/", Tactic: "TA0011",
			Parent: &Technique{ID: "T1071", Name: "Application Layer Protocol", Reference: "https://attack.mitre.org/techniques/T1071/", Tactic: "TA0011"}},
	},
	Tags: []string{"POLONIUM"},
	Entities: []EntityMapping{
		{Type: "ip", Identifier: "Address", Column: "SourceIP"},
		{Type: "ip", Identifier: "Address", Column: "DestinationIP"},
		{Type: "host", Identifier: "HostName", Column: "SourceHostName"},
		{Type: "url", Identifier: "Url", Column: "RequestURL"},
	},
	Project: []string{
		"TimeGenerated", "DeviceVendor", "DeviceProduct", "DeviceAction", "DestinationDnsDomain",
		"DestinationIP", "RequestURL", "SourceIP", "SourceHostName", "RequestClientApplication",
		"RequestMethod",
	},
	Where: []Condition{
		{Column: "RequestMethod", Op: Equals, Values: []string{"GET"}},
		{Column: "RequestURL", Op: HasAny, Values: []string{"/ui/chk", "mactok=", "UsRnMe=", "IlocalP=", "kMnD="}},
	},
}

package flbconf

import "strings"

// fluentBitKeys are the output keys that Fluent Bit v5.1.1 reads itself in
// flb_output_set_property: they are valid in any output section and never
// reach the plugin. fluentBitPrefixes start the families of such keys.
var (
	fluentBitKeys = []string{
		"Match", "Match_Regex", "Alias", "Log_Level", "Log_Suppress_Interval",
		"Host", "Port", "IPv6", "Retry_Limit", "Workers", "storage.total_limit_size", "tls",
	}
	fluentBitPrefixes = []string{"tls.", "net.", "oauth2", "_debug.http."}
)

// UnknownKey is a key of a section that neither the plugin nor Fluent Bit
// reads.
type UnknownKey struct {
	Property
	// Suggestion is the known key closest to Key in spelling, or "" when no
	// key is close.
	Suggestion string
}

// UnknownKeys returns the properties of s whose keys are neither one of
// known nor a key that Fluent Bit reads for every output. Keys compare
// without regard to case, as Fluent Bit compares them.
func (s Section) UnknownKeys(known []string) []UnknownKey {
	var unknown []UnknownKey
	for _, p := range s.Properties {
		if isKnown(p.Key, known) {
			continue
		}
		unknown = append(unknown, UnknownKey{Property: p, Suggestion: closest(p.Key, known, fluentBitKeys)})
	}
	return unknown
}

// IsFluentBitKey reports whether Fluent Bit reads key itself in every output
// section, as it does Match, Workers and the tls.* keys.
func IsFluentBitKey(key string) bool {
	return isKnown(key, nil)
}

func isKnown(key string, known []string) bool {
	for _, list := range [][]string{known, fluentBitKeys} {
		for _, k := range list {
			if strings.EqualFold(key, k) {
				return true
			}
		}
	}
	for _, prefix := range fluentBitPrefixes {
		if hasPrefixFold(key, prefix) {
			return true
		}
	}
	return false
}

// Closest returns the key of known nearest to key in spelling, or "" when
// none is close, by the measure of closest. It serves callers whose keys
// never reach Fluent Bit, such as the hunt command's, in place of
// UnknownKeys.
func Closest(key string, known []string) string {
	return closest(key, known)
}

// closest returns the key of the lists nearest to key by edit distance,
// after case and the separators '_', '-' and '.' are ignored, so that
// "SplunkToken" and "splunk-token" find "Splunk_Token". A key further than
// a third of its length, and at least 2, finds nothing.
func closest(key string, lists ...[]string) string {
	target := normalize(key)
	best, bestDistance := "", max(2, len(target)/3)+1
	for _, list := range lists {
		for _, k := range list {
			if d := editDistance(target, normalize(k)); d < bestDistance {
				best, bestDistance = k, d
			}
		}
	}
	return best
}

func normalize(key string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(key) {
		if r != '_' && r != '-' && r != '.' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// editDistance returns the Levenshtein distance between a and b, counted
// in bytes, which is enough for key names.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

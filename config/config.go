// Package config reads plugin settings through Getter, the one seam between
// Fluent Bit's property lookup and plain Go, so that every setting is
// parsed and validated by code that tests drive with a map.
package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Getter returns the value of a configuration key, or "" when the key is
// missing or empty. Fluent Bit looks keys up without regard to case.
type Getter interface {
	Get(key string) string
}

// Map is a Getter over a plain map, with case-insensitive keys as in Fluent
// Bit.
type Map map[string]string

// Get returns the value of key, ignoring case.
func (m Map) Get(key string) string {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// String returns the trimmed value of key, or def when it is empty.
func String(g Getter, key, def string) string {
	if v := strings.TrimSpace(g.Get(key)); v != "" {
		return v
	}
	return def
}

// Bool parses key as on/off, true/false, yes/no or 1/0, the spellings Fluent
// Bit accepts, or returns def when it is empty.
func Bool(g Getter, key string, def bool) (bool, error) {
	v := strings.ToLower(strings.TrimSpace(g.Get(key)))
	switch v {
	case "":
		return def, nil
	case "on", "true", "yes", "1":
		return true, nil
	case "off", "false", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("invalid %s %q: use on or off", key, v)
}

// Duration parses key as a Go duration ("30s", "1m30s") or a plain number of
// seconds ("30", "1.5"), or returns def when it is empty.
func Duration(g Getter, key string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(g.Get(key))
	if v == "" {
		return def, nil
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("invalid %s %q: use a duration such as 30s or 5m", key, v)
	}
	return d, nil
}

// Size parses key as a byte count with an optional K, M or G suffix (powers
// of 1024, as Fluent Bit reads sizes), or returns def when it is empty.
func Size(g Getter, key string, def int64) (int64, error) {
	v := strings.ToUpper(strings.TrimSpace(g.Get(key)))
	if v == "" {
		return def, nil
	}
	mult := int64(1)
	v = strings.TrimSuffix(v, "B")
	switch {
	case strings.HasSuffix(v, "K"):
		mult, v = 1<<10, strings.TrimSuffix(v, "K")
	case strings.HasSuffix(v, "M"):
		mult, v = 1<<20, strings.TrimSuffix(v, "M")
	case strings.HasSuffix(v, "G"):
		mult, v = 1<<30, strings.TrimSuffix(v, "G")
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid %s %q: use a size such as 512K, 64M or 1G", key, g.Get(key))
	}
	return int64(n * float64(mult)), nil
}

package format

import (
	"net/netip"
	"strings"

	"github.com/edgehunt/runningrat/detect"
)

// ecsSeverity maps a rule severity to ECS event.severity and
// event.risk_score, on the scale that Elastic Security's prebuilt External
// Alerts rule reads (21 low, 47 medium, 73 high, 99 critical).
var ecsSeverity = map[string]int{"informational": 0, "low": 21, "medium": 47, "high": 73, "critical": 99}

// ECSDocument returns the alert as an Elastic Common Schema document with
// event.kind "alert", so that Elastic Security's External Alerts rule
// promotes it. Columns that are empty are left out, and an address that is
// not an IP goes to *.address instead of *.ip, so that a document never
// fails an ECS index template's ip mapping.
func ECSDocument(a *detect.Alert) map[string]any {
	col := a.Event.Get
	doc := map[string]any{
		"@timestamp": a.Timestamp,
		"message":    a.Rule.Name,
		"tags":       append([]string{}, a.Tags...),
		"ecs":        map[string]any{"version": "8.11.0"},
	}

	event := map[string]any{
		"kind":     "alert",
		"category": []string{"network", "web"},
		"type":     []string{"info"},
		"id":       a.ID,
		"dataset":  "runningrat.alert",
		"module":   "runningrat",
	}
	if score, ok := ecsSeverity[strings.ToLower(a.Rule.Severity)]; ok {
		event["severity"] = score
		event["risk_score"] = score
	}
	putString(event, "action", col("DeviceAction"))
	doc["event"] = event

	doc["rule"] = map[string]any{
		"id":        a.Rule.ID,
		"uuid":      a.Rule.ID,
		"name":      a.Rule.Name,
		"version":   a.Rule.Version,
		"ruleset":   "Azure-Sentinel",
		"reference": a.Rule.Reference,
	}
	doc["threat"] = ecsThreat(a)

	if url := col("RequestURL"); url != "" {
		doc["url"] = map[string]any{"original": url}
	}
	if method := col("RequestMethod"); method != "" {
		doc["http"] = map[string]any{"request": map[string]any{"method": method}}
	}
	if ua := col("RequestClientApplication"); ua != "" {
		doc["user_agent"] = map[string]any{"original": ua}
	}

	source := endpoint(col("SourceIP"))
	if host := col("SourceHostName"); host != "" {
		source["domain"] = host
		doc["host"] = map[string]any{"name": host}
	}
	putObject(doc, "source", source)
	destination := endpoint(col("DestinationIP"))
	putString(destination, "domain", col("DestinationDnsDomain"))
	putObject(doc, "destination", destination)

	observer := map[string]any{}
	putString(observer, "vendor", col("DeviceVendor"))
	putString(observer, "product", col("DeviceProduct"))
	putObject(doc, "observer", observer)

	related := map[string]any{}
	var ips, hosts []string
	for _, c := range []string{"SourceIP", "DestinationIP"} {
		if ip, err := netip.ParseAddr(col(c)); err == nil {
			ips = append(ips, ip.String())
		}
	}
	if host := col("SourceHostName"); host != "" {
		hosts = append(hosts, host)
	}
	if len(ips) > 0 {
		related["ip"] = ips
	}
	if len(hosts) > 0 {
		related["hosts"] = hosts
	}
	putObject(doc, "related", related)

	doc["runningrat"] = pluginFields(a)
	return doc
}

// ecsThreat builds threat.* with ECS's parallel arrays: technique holds the
// techniques and the parents of sub-techniques, subtechnique the
// sub-techniques.
func ecsThreat(a *detect.Alert) map[string]any {
	tactic := map[string][]string{}
	for _, t := range a.Mitre.Tactics {
		tactic["id"] = append(tactic["id"], t.ID)
		tactic["name"] = append(tactic["name"], t.Name)
		tactic["reference"] = append(tactic["reference"], t.Reference)
	}

	technique := map[string][]string{}
	sub := map[string][]string{}
	for _, t := range a.Mitre.Techniques {
		target := technique
		if t.Parent != nil {
			technique["id"] = append(technique["id"], t.Parent.ID)
			technique["name"] = append(technique["name"], t.Parent.Name)
			technique["reference"] = append(technique["reference"], t.Parent.Reference)
			target = sub
		}
		target["id"] = append(target["id"], t.ID)
		target["name"] = append(target["name"], t.Name)
		target["reference"] = append(target["reference"], t.Reference)
	}

	techniqueDoc := map[string]any{"id": technique["id"], "name": technique["name"], "reference": technique["reference"]}
	if len(sub) > 0 {
		techniqueDoc["subtechnique"] = map[string]any{"id": sub["id"], "name": sub["name"], "reference": sub["reference"]}
	}
	threat := map[string]any{
		"framework": "MITRE ATT&CK",
		"tactic":    map[string]any{"id": tactic["id"], "name": tactic["name"], "reference": tactic["reference"]},
		"technique": techniqueDoc,
	}
	for _, tag := range a.Tags {
		if group, ok := knownGroups[tag]; ok {
			threat["group"] = group
		}
	}
	return threat
}

// knownGroups maps a rule tag to its MITRE ATT&CK group.
var knownGroups = map[string]map[string]any{
	"POLONIUM": {"id": "G1005", "name": "POLONIUM", "reference": "https://attack.mitre.org/groups/G1005/"},
}

// pluginFields are the alert's own fields that no ECS field holds.
func pluginFields(a *detect.Alert) map[string]any {
	fields := map[string]any{
		"alert_id":         a.ID,
		"verdict":          a.Verdict,
		"extended_reasons": nonNil(a.ExtendedReasons),
		"indicators":       nonNil(a.Indicators),
		"fluentbit_tag":    a.FluentBit.Tag,
	}
	if len(a.Evidence) > 0 {
		evidence := map[string]string{}
		for _, c := range a.Evidence {
			evidence[c.Name] = c.Value
		}
		fields["evidence"] = evidence
	}
	return fields
}

// endpoint returns {ip} for an IP address and {address} for anything else.
func endpoint(value string) map[string]any {
	m := map[string]any{}
	if value == "" {
		return m
	}
	if ip, err := netip.ParseAddr(value); err == nil {
		m["ip"] = ip.String()
	}
	m["address"] = value
	return m
}

func putString(m map[string]any, key, value string) {
	if value != "" {
		m[key] = value
	}
}

func putObject(m map[string]any, key string, value map[string]any) {
	if len(value) > 0 {
		m[key] = value
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

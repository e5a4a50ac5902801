package format

import (
	"net/netip"
	"strings"

	"github.com/edgehunt/runningrat/detect"
)

// splunkRiskScore maps a rule severity to a Risk-Based Alerting score.
var splunkRiskScore = map[string]int{"informational": 0, "low": 20, "medium": 50, "high": 80, "critical": 100}

// SplunkEvent returns the alert as the body of a Splunk HEC event: the CIM
// Web fields (url, http_method, src, dest, http_user_agent, action), the
// MITRE annotations that Splunk Enterprise Security reads, the Risk-Based
// Alerting fields, and the alert's own fields. The annotation keys are
// dotted, flat names because Enterprise Security stores
// annotations.mitre_attack both as a list and as the prefix of its derived
// fields.
func SplunkEvent(a *detect.Alert) map[string]any {
	col := a.Event.Get
	ev := map[string]any{
		"_time_iso":        a.Timestamp,
		"alert_id":         a.ID,
		"rule_id":          a.Rule.ID,
		"rule_name":        a.Rule.Name,
		"rule_version":     a.Rule.Version,
		"search_name":      a.Rule.Name,
		"severity":         strings.ToLower(a.Rule.Severity),
		"verdict":          a.Verdict,
		"extended_reasons": nonNil(a.ExtendedReasons),
		"indicators":       nonNil(a.Indicators),
		"tag":              append([]string{}, a.Tags...),
		"fluentbit_tag":    a.FluentBit.Tag,
	}

	putString(ev, "url", col("RequestURL"))
	putString(ev, "http_method", col("RequestMethod"))
	putString(ev, "http_user_agent", col("RequestClientApplication"))
	putString(ev, "action", col("DeviceAction"))
	putString(ev, "src", col("SourceIP"))
	putString(ev, "src_host", col("SourceHostName"))
	putString(ev, "dest", col("DestinationIP"))
	putString(ev, "dest_host", col("DestinationDnsDomain"))
	putString(ev, "vendor", col("DeviceVendor"))
	putString(ev, "product", col("DeviceProduct"))
	if v, p := col("DeviceVendor"), col("DeviceProduct"); v != "" || p != "" {
		ev["vendor_product"] = strings.TrimSpace(v + " " + p)
	}
	if ip, err := netip.ParseAddr(col("SourceIP")); err == nil {
		ev["src_ip"] = ip.String()
	}
	if ip, err := netip.ParseAddr(col("DestinationIP")); err == nil {
		ev["dest_ip"] = ip.String()
	}

	var techniqueIDs, techniqueNames, tacticIDs, tacticNames []string
	for _, t := range a.Mitre.Techniques {
		techniqueIDs = append(techniqueIDs, t.ID)
		techniqueNames = append(techniqueNames, t.Name)
	}
	for _, t := range a.Mitre.Tactics {
		tacticIDs = append(tacticIDs, t.ID)
		tacticNames = append(tacticNames, t.Name)
	}
	ev["annotations.mitre_attack"] = techniqueIDs
	ev["annotations.mitre_attack.mitre_technique_id"] = techniqueIDs
	ev["annotations.mitre_attack.mitre_technique"] = techniqueNames
	ev["annotations.mitre_attack.mitre_tactic_id"] = tacticIDs
	ev["annotations.mitre_attack.mitre_tactic"] = tacticNames

	// Risk-Based Alerting: the host at risk and the URL that is the threat.
	switch {
	case col("SourceHostName") != "":
		ev["risk_object"] = col("SourceHostName")
		ev["risk_object_type"] = "system"
	case col("SourceIP") != "":
		ev["risk_object"] = col("SourceIP")
		ev["risk_object_type"] = "system"
	}
	if score, ok := splunkRiskScore[strings.ToLower(a.Rule.Severity)]; ok {
		ev["risk_score"] = score
	}
	ev["risk_message"] = a.Rule.Name + " (" + a.Verdict + ")"
	if url := col("RequestURL"); url != "" {
		ev["threat_object"] = url
		ev["threat_object_type"] = "url"
	}
	return ev
}

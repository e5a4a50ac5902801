package format

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/edgehunt/runningrat/detect"
	"github.com/edgehunt/runningrat/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden/format")

func TestGoldenFormats(t *testing.T) {
	alerts := testkit.GoldenAlerts(t, "pan-os.extended")
	for _, f := range []Format{ECS, Splunk} {
		t.Run(string(f), func(t *testing.T) {
			var got []byte
			for i := range alerts {
				var err error
				got, err = AppendJSON(got, f, &alerts[i])
				require.NoError(t, err)
				got = append(got, '\n')
			}
			golden := filepath.Join("..", "testdata", "golden", "format", "pan-os."+string(f)+".jsonl")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./format -update to create it")
			assert.Equal(t, string(want), string(got))
		})
	}
}

func TestECSDocumentFields(t *testing.T) {
	a := testkit.GoldenAlerts(t, "pan-os.extended")[0]
	var doc map[string]any
	b, err := AppendJSON(nil, ECS, &a)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &doc))

	event := doc["event"].(map[string]any)
	assert.Equal(t, "alert", event["kind"])
	assert.Equal(t, float64(73), event["severity"])
	threat := doc["threat"].(map[string]any)
	assert.Equal(t, "MITRE ATT&CK", threat["framework"])
	technique := threat["technique"].(map[string]any)
	assert.Equal(t, []any{"T1041", "T1071"}, technique["id"])
	assert.Equal(t, []any{"T1071.001"}, technique["subtechnique"].(map[string]any)["id"])
	assert.Equal(t, []any{"TA0010", "TA0011"}, threat["tactic"].(map[string]any)["id"])
	assert.Equal(t, "cdn.example.com/ui/chk?IlocalP=192.0.2.25", doc["url"].(map[string]any)["original"])
	assert.Equal(t, "get", doc["http"].(map[string]any)["request"].(map[string]any)["method"])
	assert.Equal(t, "192.0.2.25", doc["source"].(map[string]any)["ip"])
	assert.Equal(t, "Palo Alto Networks", doc["observer"].(map[string]any)["vendor"])
	assert.Equal(t, []any{"POLONIUM"}, doc["tags"])
	assert.NotContains(t, doc, "host", "an empty SourceHostName gives no host.name")
}

func TestECSLeavesNonIPOutOfIPFields(t *testing.T) {
	a := testkit.GoldenAlerts(t, "pan-os.extended")[0]
	a.Event = detect.Columns{{Name: "SourceIP", Value: "ws-042"}, {Name: "DestinationIP", Value: ""}}
	doc := ECSDocument(&a)
	assert.Equal(t, map[string]any{"address": "ws-042"}, doc["source"])
	assert.NotContains(t, doc, "destination")
}

func TestSplunkEventFields(t *testing.T) {
	a := testkit.GoldenAlerts(t, "pan-os.extended")[0]
	ev := SplunkEvent(&a)
	assert.Equal(t, "cdn.example.com/ui/chk?IlocalP=192.0.2.25", ev["url"])
	assert.Equal(t, "get", ev["http_method"])
	assert.Equal(t, "192.0.2.25", ev["src"])
	assert.Equal(t, "203.0.113.10", ev["dest"])
	assert.Equal(t, "Mozilla/5.0", ev["http_user_agent"])
	assert.Equal(t, "alert", ev["action"])
	assert.Equal(t, []string{"T1041", "T1071.001"}, ev["annotations.mitre_attack"])
	assert.Equal(t, []string{"TA0010", "TA0011"}, ev["annotations.mitre_attack.mitre_tactic_id"])
	assert.Equal(t, "192.0.2.25", ev["risk_object"])
	assert.Equal(t, "system", ev["risk_object_type"])
	assert.Equal(t, "url", ev["threat_object_type"])
	assert.Equal(t, a.ID, ev["alert_id"])
}

func TestParse(t *testing.T) {
	for _, in := range []string{"", "native", "ECS", " splunk "} {
		_, err := Parse(in)
		assert.NoError(t, err, in)
	}
	_, err := Parse("xml")
	assert.ErrorContains(t, err, `invalid Alert_Format "xml": use native, ecs or splunk`)
}

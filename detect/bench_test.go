package detect

import (
	"testing"

	"github.com/edgehunt/runningrat/cef"
)

var benchBenign = []byte(`May 14 10:21:09 zscaler-nss CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|act=Allowed reason=Allowed app=HTTPS dhost=www.example.com dst=203.0.113.20 src=192.0.2.26 sourceTranslatedAddress=198.51.100.7 in=20480 out=812 request=www.example.com/search?q=quarterly report&lang=en requestContext=www.example.com/ outcome=200 requestClientApplication=Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 requestMethod=GET suser=user2@example.com spriv=Branch-01 externalId=7300012346 fileType=None destinationServiceName=General Browsing cat=Search Engines deviceDirection=1 cn1=0 cn1Label=riskscore cs1=Finance cs1Label=dept`)

func BenchmarkMayMatch(b *testing.B) {
	rule := compileRunningRAT(b)
	for _, mode := range []Mode{Exact, Extended} {
		b.Run(mode.String(), func(b *testing.B) {
			b.SetBytes(int64(len(benchBenign)))
			b.ReportAllocs()
			for b.Loop() {
				if rule.MayMatch(benchBenign, mode) {
					b.Fatal("benign line passed the prefilter")
				}
			}
		})
	}
}

func BenchmarkEvaluate(b *testing.B) {
	rule := compileRunningRAT(b)
	var rec cef.Record
	if err := rec.ParseLine(benchBenign); err != nil {
		b.Fatal(err)
	}
	var m Match
	b.ReportAllocs()
	for b.Loop() {
		if rule.Evaluate(&rec, Extended, &m) != NoMatch {
			b.Fatal("benign line matched")
		}
	}
}

// BenchmarkMayMatchPercent is the extended prefilter on a benign line whose
// URL holds a percent escape, which it must decode to rule out.
func BenchmarkMayMatchPercent(b *testing.B) {
	rule := compileRunningRAT(b)
	line := []byte(`May 14 10:21:09 zscaler-nss CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|act=Allowed request=www.example.com/search?q=quarterly%20report&lang=en requestMethod=GET`)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if rule.MayMatch(line, Extended) {
			b.Fatal("benign line passed the prefilter")
		}
	}
}

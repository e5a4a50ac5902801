package cef

import "testing"

var benchLine = []byte(`May 14 10:21:09 zscaler-nss CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|act=Allowed reason=Allowed app=HTTPS dhost=www.example.com dst=203.0.113.20 src=192.0.2.26 sourceTranslatedAddress=198.51.100.7 in=20480 out=812 request=www.example.com/search?q=quarterly%20report&lang=en requestContext=www.example.com/ outcome=200 requestClientApplication=Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 requestMethod=GET suser=user2@example.com spriv=Branch-01 externalId=7300012346 fileType=None destinationServiceName=General Browsing cat=Search Engines deviceDirection=1 cn1=0 cn1Label=riskscore cs1=Finance cs1Label=dept`)

var benchEscaped = []byte(`<189>May 14 10:22:01 FGT-EDGE-01 CEF: 0|Fortinet|Fortigate|v7.2.8|13312|utm:webfilter ftgd_allow passthrough|3|deviceExternalId=FGVM00EXAMPLE01 FTNTFGTlogid=0316013312 cat=utm:webfilter src=192.0.2.25 spt=51544 dst=203.0.113.10 dpt=80 proto=6 app=HTTP dhost=cdn.example.com act=passthrough request=/a/b?x\=1&y\=2 out=402 in=1180 msg=URL belongs to an allowed category in policy FTNTFGTmethod=domain`)

func BenchmarkParseLine(b *testing.B) {
	for _, bc := range []struct {
		name string
		line []byte
	}{{"zscaler", benchLine}, {"fortigate-escaped", benchEscaped}} {
		b.Run(bc.name, func(b *testing.B) {
			var r Record
			b.SetBytes(int64(len(bc.line)))
			b.ReportAllocs()
			for b.Loop() {
				if err := r.ParseLine(bc.line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCheckHeader(b *testing.B) {
	b.SetBytes(int64(len(benchLine)))
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckHeader(benchLine); err != nil {
			b.Fatal(err)
		}
	}
}

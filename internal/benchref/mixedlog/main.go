// Command mixedlog writes the mixed vendor log that the Fluent Bit CPU
// measurements of BENCHMARKS.md tail: the sample lines that the prefilter
// rejects, in turn, with one Zscaler hit per 1,000 lines. One line in eight
// is a FortiGate event that is not CEF.
//
//	go run ./internal/benchref/mixedlog -lines 600000 > build/mixed.log
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/edgehunt/runningrat/detect"
)

// hitLine is the hit written at every 1,000th line, with the line number
// as the kMnD value so that no two hits are the same line.
const hitLine = "May 14 10:21:07 zscaler-nss CEF:0|Zscaler|NSSWeblog|5.7|Allowed|Allowed|3|act=Allowed dst=203.0.113.30 src=192.0.2.0 request=upd.example.net/ui/chk?kMnD=%d requestMethod=GET requestClientApplication=Mozilla/4.0\n"

func main() {
	lines := flag.Int("lines", 600000, "number of lines to write")
	samples := flag.String("samples", "testdata/samples", "folder of the vendor sample logs")
	flag.Parse()

	benign, err := benignLines(*samples)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mixedlog:", err)
		os.Exit(1)
	}

	w := bufio.NewWriter(os.Stdout)
	for i := range *lines {
		if i%1000 == 500 {
			fmt.Fprintf(w, hitLine, i)
			continue
		}
		w.WriteString(benign[i%len(benign)])
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "mixedlog:", err)
		os.Exit(1)
	}
}

// benignLines returns the lines of the *.log files in dir that the
// RunningRAT prefilter rejects in extended mode, by file name and line.
func benignLines(dir string) ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	rule, err := detect.Compile(&detect.RunningRAT)
	if err != nil {
		return nil, err
	}

	var benign []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			if !rule.MayMatch(s.Bytes(), detect.Extended) {
				benign = append(benign, s.Text())
			}
		}
		f.Close()
		if err := s.Err(); err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
	}
	if len(benign) == 0 {
		return nil, fmt.Errorf("no benign sample line in %s", dir)
	}
	return benign, nil
}

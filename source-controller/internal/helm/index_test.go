package helm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// fullParse is what parsing the index whole gives: the reference the stream must match.
func fullParse(data []byte) (map[string][]ChartVersion, error) {
	var idx struct {
		APIVersion string                    `json:"apiVersion"`
		Entries    map[string][]ChartVersion `json:"entries"`
	}
	if err := yaml.Unmarshal(data, &idx); err != nil {
		return nil, err
	}
	for name, vs := range idx.Entries {
		for i := range vs {
			if vs[i].Name == "" {
				vs[i].Name = name
			}
		}
	}
	return idx.Entries, nil
}

func scanAll(data []byte) (map[string][]ChartVersion, error) {
	got := map[string][]ChartVersion{}
	err := Scan(bytes.NewReader(data), func(name string, versions []ChartVersion) error {
		if _, twice := got[name]; twice {
			return fmt.Errorf("chart %s twice", name) // as WriteLookup refuses it
		}
		got[name] = versions
		return nil
	})
	return got, err
}

const helmStyle = `apiVersion: v1
entries:
  nginx:
  - apiVersion: v2
    appVersion: 1.25.3
    created: "2026-11-01T10:00:00Z"
    description: |
      A web server.
      # not a comment: part of the description
    digest: 0123abcd
    name: nginx
    urls:
    - https://charts.example.com/nginx-1.2.3.tgz
    version: 1.2.3
  - apiVersion: v2
    name: nginx
    urls: [nginx-1.2.4-rc.1.tgz]
    version: 1.2.4-rc.1
  "podinfo":
    - name: podinfo
      version: 6.9.0
      deprecated: true
      urls:
        - podinfo-6.9.0.tgz
  empty: []
generated: "2026-11-01T10:00:00Z"
serverInfo:
  contextPath: /charts
`

func TestScanMatchesAFullParse(t *testing.T) {
	jsonIndex, err := yaml.YAMLToJSON([]byte(helmStyle))
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{
		"helm style":         helmStyle,
		"CRLF":               strings.ReplaceAll(helmStyle, "\n", "\r\n"),
		"document markers":   "---\n" + helmStyle + "...\n",
		"comments and blank": "# an index\n" + strings.Replace(helmStyle, "  nginx:\n", "\n  # the web server\n  nginx:\n\n", 1),
		"JSON":               string(jsonIndex),
		"indented JSON":      "\n  " + string(jsonIndex),
	} {
		t.Run(name, func(t *testing.T) {
			want, err := fullParse([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			got, err := scanAll([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			delete(want, "empty")
			if len(got["empty"]) == 0 {
				delete(got, "empty")
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Errorf("stream:\n%s\nwhole:\n%s", g, w)
			}
		})
	}
}

func TestScanRefusesWhatIsNotAnIndex(t *testing.T) {
	for name, doc := range map[string]string{
		"empty":           "",
		"HTML":            "<html><body>Not Found</body></html>\n",
		"no apiVersion":   "entries:\n  a:\n  - version: 1.0.0\n",
		"no entries":      "apiVersion: v1\n",
		"flow entries":    "apiVersion: v1\nentries: {a: [{version: 1.0.0}]}\n",
		"no version":      "apiVersion: v1\nentries:\n  a:\n  - name: a\n",
		"broken entry":    "apiVersion: v1\nentries:\n  a:\n  - name: [a\n",
		"JSON no entries": `{"apiVersion": 1}`,
		"JSON truncated":  `{"apiVersion": "v1", "entries": {"a": [{"version": "1.0.0"}`,
		"long line":       "apiVersion: v1\nentries:\n  a:\n  - name: " + strings.Repeat("x", maxLine+1) + "\n",
	} {
		if _, err := scanAll([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// generatedIndex writes an index of charts × versions as `helm repo index` does, of about
// size bytes, without holding it.
func generatedIndex(w io.Writer, charts, versions int) error {
	if _, err := io.WriteString(w, "apiVersion: v1\nentries:\n"); err != nil {
		return err
	}
	description := strings.Repeat("A chart that does many things. ", 8)
	for c := range charts {
		if _, err := fmt.Fprintf(w, "  chart-%05d:\n", c); err != nil {
			return err
		}
		for v := range versions {
			if _, err := fmt.Fprintf(w, `  - apiVersion: v2
    appVersion: 1.%[2]d.0
    created: "2026-11-01T10:00:00.000000000Z"
    description: %[3]s
    digest: %064[2]x
    home: https://example.com/chart-%05[1]d
    keywords: [web, http, server]
    maintainers:
    - email: team@example.com
      name: team
    name: chart-%05[1]d
    sources: [https://github.com/example/chart-%05[1]d]
    urls:
    - https://charts.example.com/chart-%05[1]d-1.%[2]d.0.tgz
    version: 1.%[2]d.0
`, c, v, description); err != nil {
				return err
			}
		}
	}
	_, err := io.WriteString(w, "generated: \"2026-11-01T10:00:00Z\"\n")
	return err
}

// A 40 MB index is read in bounded memory: the heap never grows by more than a few MB over
// what the test itself holds, where parsing it whole takes hundreds.
func TestWriteLookupStreamsABigIndex(t *testing.T) {
	pr, pw := io.Pipe()
	var written atomic.Int64
	go func() {
		err := generatedIndex(countWriter{pw, &written}, 2000, 40)
		pw.CloseWithError(err)
	}()
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	dir := t.TempDir() + "/lookup"
	n, err := WriteLookup(dir, pr)
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	if n != 2000 {
		t.Errorf("%d charts, want 2000", n)
	}
	grown := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("index of %d MB: heap grew by at most %.1f MB", written.Load()>>20, float64(grown)/(1<<20))
	if written.Load() < 30<<20 {
		t.Fatalf("the index is only %d bytes", written.Load())
	}
	if grown > 32<<20 {
		t.Errorf("the heap grew by %d MB reading the index", grown>>20)
	}
	versions, err := Lookup(dir, "chart-01234")
	if err != nil || len(versions) != 40 || versions[7].Version != "1.7.0" || versions[7].URLs[0] != "https://charts.example.com/chart-01234-1.7.0.tgz" {
		t.Errorf("Lookup = %+v, %v", versions, err)
	}
	if _, err := Lookup(dir, "missing"); err == nil {
		t.Error("a missing chart was found")
	}
}

type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// Whatever the bytes, Scan neither panics nor disagrees with a full parse on what it accepts.
func FuzzScan(f *testing.F) {
	f.Add([]byte(helmStyle))
	f.Add([]byte("apiVersion: v1\nentries:\n  a:\n  - version: 1.0.0\n    urls: [a.tgz]\n"))
	f.Add([]byte(`{"apiVersion":"v1","entries":{"a":[{"version":"1.0.0"}]}}`))
	f.Add([]byte("apiVersion: v1\nentries:\n  a:\n  - version: |\n      1.0.0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := scanAll(data)
		if err != nil {
			return
		}
		want, werr := fullParse(data)
		if werr != nil {
			return // the stream reads some documents a full parse refuses (a duplicate key)
		}
		for name, vs := range want {
			if len(vs) == 0 {
				delete(want, name)
			}
		}
		for name, vs := range got {
			if len(vs) == 0 {
				delete(got, name)
			}
		}
		if (len(got) > 0 || len(want) > 0) && !reflect.DeepEqual(got, want) {
			t.Fatalf("stream %+v, whole %+v", got, want)
		}
	})
}

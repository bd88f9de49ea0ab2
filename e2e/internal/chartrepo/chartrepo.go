// Package chartrepo serves a Helm chart repository over HTTP on 127.0.0.1 (an index.yaml and
// the chart archives it lists), built from files in memory: for the e2e tests and make run's
// demo.
package chartrepo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
)

// Repo is a chart repository; URL is its address.
type Repo struct {
	URL      string
	server   *http.Server
	mu       sync.Mutex
	archives map[string][]byte // by file name
	charts   []entry
}

type entry struct{ name, version, appVersion string }

// Start serves an empty repository on a free port of 127.0.0.1.
func Start() (*Repo, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Repo{URL: "http://" + l.Addr().String(), archives: map[string][]byte{}}
	r.server = &http.Server{Handler: r}
	go func() { _ = r.server.Serve(l) }()
	return r, nil
}

// Close stops serving.
func (r *Repo) Close() { _ = r.server.Close() }

// ServeHTTP serves index.yaml and the archives.
func (r *Repo) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.URL.Path == "/index.yaml" {
		_, _ = w.Write([]byte(r.index()))
		return
	}
	data, ok := r.archives[strings.TrimPrefix(req.URL.Path, "/")]
	if !ok {
		http.NotFound(w, req)
		return
	}
	_, _ = w.Write(data)
}

// Publish adds the chart name at version: files are by path within the chart ('values.yaml',
// 'templates/deployment.yaml'); its Chart.yaml is written from name, version and appVersion.
func (r *Repo) Publish(name, version, appVersion string, files map[string]string) error {
	all := map[string]string{"Chart.yaml": fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\nappVersion: %q\n", name, version, appVersion)}
	for p, content := range files {
		all[p] = content
	}
	paths := make([]string, 0, len(all))
	for p := range all {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, p := range paths {
		if err := tw.WriteHeader(&tar.Header{Name: name + "/" + p, Mode: 0o644, Size: int64(len(all[p])), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write([]byte(all[p])); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.archives[fmt.Sprintf("%s-%s.tgz", name, version)] = buf.Bytes()
	r.charts = append(r.charts, entry{name, version, appVersion})
	return nil
}

// index is the repository's index.yaml, each chart's versions newest first.
func (r *Repo) index() string {
	byName := map[string][]entry{}
	var names []string
	for _, e := range r.charts {
		if byName[e.name] == nil {
			names = append(names, e.name)
		}
		byName[e.name] = append([]entry{e}, byName[e.name]...)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("apiVersion: v1\nentries:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %s:\n", n)
		for _, e := range byName[n] {
			file := fmt.Sprintf("%s-%s.tgz", e.name, e.version)
			fmt.Fprintf(&b, "  - apiVersion: v2\n    name: %s\n    version: %s\n    appVersion: %q\n    digest: %x\n    urls:\n    - %s\n",
				e.name, e.version, e.appVersion, sha256.Sum256(r.archives[file]), file)
		}
	}
	return b.String()
}

// WebApp is a chart of a Deployment (podinfo, values.replicas), a Service and a ConfigMap
// (values.message, and the chart version), all named after the release.
var WebApp = map[string]string{
	"values.yaml": "replicas: 1\nimage: ghcr.io/stefanprodan/podinfo:6.9.0\nmessage: hello\n",
	"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
        - name: podinfo
          image: {{ .Values.image }}
          ports:
            - containerPort: 9898
`,
	"templates/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector: {app: {{ .Release.Name }}}
  ports:
    - port: 9898
`,
	"templates/config.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  message: {{ .Values.message | quote }}
  chart: {{ .Chart.Version | quote }}
`,
}

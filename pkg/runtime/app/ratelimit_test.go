package app

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/driftless-dev/driftless/pkg/testenv"
)

// apiServer answers /livez/ping, with the flow schema header when apf is set.
func apiServer(t *testing.T, apf bool) *rest.Config {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if apf {
			w.Header().Set(flowSchemaHeader, "0b4c1d7e")
		}
		if r.URL.Path != "/livez/ping" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return &rest.Config{Host: srv.URL}
}

func TestRateLimit(t *testing.T) {
	cases := []struct {
		name       string
		apf        bool
		args       []string
		qps        float32
		burst      int
		logContain string
	}{
		{"priority and fairness, defaults", true, nil, -1, 0, "no client-side rate limit"},
		{"no priority and fairness", false, nil, 50, 300, "has no priority and fairness"},
		{"priority and fairness, a limit set", true, []string{"--kube-api-qps=20"}, 20, 300, "as set"},
		{"priority and fairness, a burst set", true, []string{"--kube-api-burst=40"}, 50, 40, "as set"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := NewOptions("kustomize-controller", 4)
			if err := parse(t, o, c.args...); err != nil {
				t.Fatal(err)
			}
			cfg := apiServer(t, c.apf)
			msg := o.RateLimit(testenv.Context(t), cfg)
			if cfg.QPS != c.qps || cfg.Burst != c.burst || !strings.Contains(msg, c.logContain) {
				t.Errorf("QPS %g, burst %d (%s); want %g, %d (%s)", cfg.QPS, cfg.Burst, msg, c.qps, c.burst, c.logContain)
			}
		})
	}

	// An API server that cannot be asked: the flags' values.
	o := NewOptions("kustomize-controller", 4)
	cfg := &rest.Config{Host: "http://127.0.0.1:1"}
	if msg := o.RateLimit(testenv.Context(t), cfg); cfg.QPS != 50 || cfg.Burst != 300 || !strings.Contains(msg, "could not ask") {
		t.Errorf("unreachable API server: QPS %g, burst %d (%s)", cfg.QPS, cfg.Burst, msg)
	}
}

// A real kube-apiserver is recognised as having priority and fairness.
func TestRateLimitRecognisesKubeAPIServer(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()
	o := NewOptions("kustomize-controller", 4)
	cfg := rest.CopyConfig(env.Config)
	if msg := o.RateLimit(testenv.Context(t), cfg); cfg.QPS != -1 {
		t.Errorf("QPS %g: %s", cfg.QPS, msg)
	}
}

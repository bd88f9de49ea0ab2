package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"k8s.io/client-go/rest"
)

// flowSchemaHeader is set by an API server with priority and fairness on the answer to every
// request it classified.
const flowSchemaHeader = "X-Kubernetes-PF-FlowSchema-UID"

// RateLimit sets cfg's client-side rate limit and says what it chose, for the start-up log.
// --kube-api-qps and --kube-api-burst default to Flux's 50 and 300, which date from before API
// servers had priority and fairness. An API server that has it (every one since Kubernetes
// 1.20) queues and sheds load per flow itself, and a client-side limit then only makes a big
// apply slow: so, as Flux does, no client-side limit applies unless one of the flags was set.
// When the API server cannot be asked, the flags' values apply.
func (o *Options) RateLimit(ctx context.Context, cfg *rest.Config) string {
	cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	if o.flags != nil && (o.flags.Changed("kube-api-qps") || o.flags.Changed("kube-api-burst")) {
		return fmt.Sprintf("client-side rate limit %g/s, burst %d, as set", cfg.QPS, cfg.Burst)
	}
	apf, err := priorityAndFairness(ctx, cfg)
	switch {
	case err != nil:
		return fmt.Sprintf("client-side rate limit %g/s, burst %d: could not ask the API server whether it has priority and fairness (%v)", cfg.QPS, cfg.Burst, err)
	case !apf:
		return fmt.Sprintf("client-side rate limit %g/s, burst %d: the API server has no priority and fairness", cfg.QPS, cfg.Burst)
	}
	cfg.QPS, cfg.Burst = -1, 0
	return "no client-side rate limit: the API server has priority and fairness (set --kube-api-qps to impose one)"
}

// priorityAndFairness reports whether the API server classifies requests by priority and
// fairness: its answer to a ping carries the flow schema's header.
func priorityAndFairness(ctx context.Context, cfg *rest.Config) (bool, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return false, err
	}
	u, err := url.JoinPath(cfg.Host, "/livez/ping")
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	return resp.Header.Get(flowSchemaHeader) != "", nil
}

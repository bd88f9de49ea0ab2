package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftless-dev/driftless/pkg/apis/event"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

// The notification scenario's shape, as the issue sets it.
const (
	notifyEvents  = 5000
	notifyObjects = 50
	notifyAlerts  = 10
	// notifySenders post events concurrently, as several controllers do.
	notifySenders = 4
)

func notifyScenarios() []scenario {
	return []scenario{{
		name:   "notify-events",
		note:   "5,000 events from 50 objects through 10 Alerts to a sink; then the same with one Provider that times out",
		runAll: notifyEventsRun,
		quick:  true,
	}}
}

// sinkServer records when each event (by the sequence number in its message) arrived.
type sinkServer struct {
	srv      *http.Server
	url      string
	mu       sync.Mutex
	arrived  map[int]time.Time
	received atomic.Int64
	// hang, when set, holds every request until the client gives up.
	hang bool
}

func newSinkServer(hang bool) (*sinkServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sinkServer{url: "http://" + ln.Addr().String(), arrived: map[int]time.Time{}, hang: hang}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.hang {
			<-r.Context().Done()
			return
		}
		body, _ := io.ReadAll(r.Body)
		now := time.Now()
		var ev event.Event
		if json.Unmarshal(body, &ev) == nil {
			if _, seq, ok := strings.Cut(ev.Message, "#"); ok {
				if n, err := strconv.Atoi(seq); err == nil {
					s.mu.Lock()
					s.arrived[n] = now
					s.mu.Unlock()
				}
			}
		}
		s.received.Add(1)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sinkServer) close() { _ = s.srv.Close() }

// notifyEventsRun posts 5,000 distinct events of 50 GitRepositories; Alert i selects objects
// 5i..5i+4 through Provider i. Latency is from the POST to the sink's receipt. The second
// phase points Provider 9 at a sink that never answers (timeout 2s) and measures the others.
func notifyEventsRun(ctx context.Context, h *harness) ([]result, error) {
	if err := h.startCluster(ctx); err != nil { // its namespace controller deletes the run's namespace
		return nil, err
	}
	ns, err := h.namespace(ctx)
	if err != nil {
		return nil, err
	}
	defer h.deleteNamespace(ns)
	eventsAddr, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	receiverAddr, err := testenv.FreeAddr()
	if err != nil {
		return nil, err
	}
	nc, err := startController(h.binDir, "notification-controller", h.env.Kubeconfig, h.work, ns,
		"--events-addr="+eventsAddr, "--receiverAddr="+receiverAddr)
	if err != nil {
		return nil, err
	}
	defer nc.stop()
	// The Alerts and Providers go while the controller runs: it removes their finalizers.
	defer func() {
		for _, kind := range []string{"Alert", "Provider"} {
			list := &unstructured.UnstructuredList{}
			list.SetAPIVersion("notification.toolkit.fluxcd.io/v1beta3")
			list.SetKind(kind + "List")
			if err := h.env.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
				warnf("listing %ss: %v", kind, err)
				continue
			}
			for i := range list.Items {
				_ = h.env.Client.Delete(ctx, &list.Items[i])
			}
			_ = poll(ctx, time.Minute, func() (bool, error) {
				err := h.env.Client.List(ctx, list, client.InNamespace(ns))
				return err == nil && len(list.Items) == 0, err
			})
		}
	}()

	var out []result
	for _, phase := range []struct {
		name    string
		note    string
		hanging bool
	}{
		{"notify-5000-events", "5,000 events (4 senders) from 50 objects through 10 Alerts and Providers to one sink on 127.0.0.1; wall = p99 delivery latency", false},
		{"notify-5000-events-one-provider-down", "the same, with one of the 10 Providers timing out (2s) on every delivery; figures for the 9 others; wall = their p99", true},
	} {
		r, err := notifyPhase(ctx, h, nc, ns, phase.name, phase.hanging)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (controller log: %s)", phase.name, err, nc.logPath)
		}
		r.Scenario, r.Note = phase.name, phase.note
		out = append(out, r)
	}
	return out, nil
}

func notifyPhase(ctx context.Context, h *harness, nc *controller, ns, phase string, hanging bool) (result, error) {
	sink, err := newSinkServer(false)
	if err != nil {
		return result{}, err
	}
	defer sink.close()
	down, err := newSinkServer(true)
	if err != nil {
		return result{}, err
	}
	defer down.close()
	for i := range notifyAlerts {
		address := sink.url
		if hanging && i == notifyAlerts-1 {
			address = down.url
		}
		provider := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
			"metadata": map[string]any{"namespace": ns, "name": fmt.Sprintf("%s-%d", phase, i)},
			"spec":     map[string]any{"type": "generic", "address": address, "timeout": "2s"},
		}}
		sources := []any{}
		for j := range notifyObjects / notifyAlerts {
			sources = append(sources, map[string]any{"kind": "GitRepository", "name": fmt.Sprintf("app-%02d", i*notifyObjects/notifyAlerts+j)})
		}
		alert := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
			"metadata": map[string]any{"namespace": ns, "name": fmt.Sprintf("%s-%d", phase, i)},
			"spec":     map[string]any{"providerRef": map[string]any{"name": fmt.Sprintf("%s-%d", phase, i)}, "eventSources": sources},
		}}
		for _, obj := range []*unstructured.Unstructured{provider, alert} {
			if err := h.env.Client.Create(ctx, obj); err != nil {
				return result{}, err
			}
		}
	}
	// The controller's cache must hold the Alerts before events are posted: a probe event per
	// Alert, until each arrives.
	if err := probeAlerts(ctx, nc, ns, phase, sink, hanging); err != nil {
		return result{}, err
	}
	sink.mu.Lock()
	sink.arrived = map[int]time.Time{}
	sink.mu.Unlock()
	sink.received.Store(0)

	before, err := nc.usage()
	if err != nil {
		return result{}, err
	}
	sent := make([]time.Time, notifyEvents)
	var refused atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range notifySenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= notifyEvents {
					return
				}
				obj := fmt.Sprintf("app-%02d", i%notifyObjects)
				sent[i] = time.Now()
				if code, err := postNotifyEvent(ctx, nc, ns, obj, fmt.Sprintf("%s: stored artifact for revision %d #%d", phase, i, i)); err != nil || code != http.StatusAccepted {
					refused.Add(1)
					warnf("%s: event %d: %d %v", phase, i, code, err)
				}
			}
		}()
	}
	wg.Wait()
	posted := time.Since(start)
	nc.heapProfile(phase)
	// Events for the dead Provider are never delivered; the others all must be.
	want := notifyEvents
	if hanging {
		want -= notifyEvents / notifyAlerts
	}
	arrived := func() int {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.arrived)
	}
	if err := poll(ctx, 3*time.Minute, func() (bool, error) { return arrived() >= want, nil }); err != nil {
		return result{}, fmt.Errorf("%d of %d events delivered: %w", arrived(), want, err)
	}
	r, err := nc.since(before, start)
	if err != nil {
		return result{}, err
	}
	sink.mu.Lock()
	latencies := make([]float64, 0, len(sink.arrived))
	for i, at := range sink.arrived {
		latencies = append(latencies, at.Sub(sent[i]).Seconds())
	}
	sink.mu.Unlock()
	slices.Sort(latencies)
	lost := want - len(latencies)
	r.WallSec = round(percentile(latencies, 0.99))
	r.Extra = map[string]float64{
		"delivered":               float64(len(latencies)),
		"lost":                    float64(lost),
		"refused at intake":       float64(refused.Load()),
		"latency p50 (s)":         round(percentile(latencies, 0.50)),
		"latency p99 (s)":         round(percentile(latencies, 0.99)),
		"latency max (s)":         round(latencies[len(latencies)-1]),
		"intake (events/s)":       float64(int(float64(notifyEvents) / posted.Seconds())),
		"all delivered after (s)": round(time.Since(start).Seconds()),
	}
	return r, nil
}

// probeAlerts posts one event per Alert until each arrives (or, for the dead Provider, until
// the others have): the controller then has every Alert in its cache.
func probeAlerts(ctx context.Context, nc *controller, ns, phase string, sink *sinkServer, hanging bool) error {
	alive := notifyAlerts
	if hanging {
		alive--
	}
	for attempt := 0; ; attempt++ {
		sink.received.Store(0)
		for i := range alive {
			obj := fmt.Sprintf("app-%02d", i*notifyObjects/notifyAlerts)
			// The event server may still be starting: a refused probe is tried again.
			if _, err := postNotifyEvent(ctx, nc, ns, obj, fmt.Sprintf("%s: probe %d of Alert %d", phase, attempt, i)); err != nil {
				debugf("%s: probe %d: %v", phase, attempt, err)
			}
		}
		if err := poll(ctx, 2*time.Second, func() (bool, error) { return int(sink.received.Load()) >= alive, nil }); err == nil {
			debugf("%s: every Alert delivered its probe after %d attempts", phase, attempt+1)
			return nil
		}
		debugf("%s: probe %d: %d of %d Alerts delivered", phase, attempt, sink.received.Load(), alive)
		if attempt == 30 {
			return fmt.Errorf("the Alerts did not all deliver their probe")
		}
	}
}

// eventsURL is where the controller's event intake listens: its --events-addr flag.
func (c *controller) eventsURL() string {
	for _, a := range c.cmd.Args {
		if v, ok := strings.CutPrefix(a, "--events-addr="); ok {
			return "http://" + v + "/"
		}
	}
	return ""
}

var notifyClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: notifySenders}, Timeout: 30 * time.Second}

func postNotifyEvent(ctx context.Context, nc *controller, ns, name, message string) (int, error) {
	ev := event.Event{
		InvolvedObject: corev1.ObjectReference{APIVersion: "source.toolkit.fluxcd.io/v1", Kind: "GitRepository", Namespace: ns, Name: name},
		Severity:       event.SeverityInfo, Timestamp: metav1.Now(), Message: message, Reason: "NewArtifact",
		ReportingController: "source-controller",
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, nc.eventsURL(), bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := notifyClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

// webhookPushes measures push → applied with the announcement a Git host makes: a GitHub
// push webhook, signed, to a Receiver of notification-controller, which requests the
// GitRepository's reconcile. From the POST until the first app's ConfigMap shows the change.
func webhookPushes(ctx context.Context, h *harness, g *gitops) (result, error) {
	receiverAddr, err := testenv.FreeAddr()
	if err != nil {
		return result{}, err
	}
	eventsAddr, err := testenv.FreeAddr()
	if err != nil {
		return result{}, err
	}
	nc, err := startController(h.binDir, "notification-controller", h.env.Kubeconfig, h.work, g.ns,
		"--events-addr="+eventsAddr, "--receiverAddr="+receiverAddr)
	if err != nil {
		return result{}, err
	}
	defer nc.stop()
	const token = "bench-webhook-token"
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: g.ns, Name: "webhook-token"}, StringData: map[string]string{"token": token}}
	if err := h.env.Client.Create(ctx, secret); err != nil {
		return result{}, err
	}
	receiver := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
		"metadata": map[string]any{"namespace": g.ns, "name": "github"},
		"spec": map[string]any{
			"type": "github", "events": []any{"push"}, "secretRef": map[string]any{"name": "webhook-token"},
			"resources": []any{map[string]any{"kind": "GitRepository", "name": "monorepo"}},
		},
	}}
	if err := h.env.Client.Create(ctx, receiver); err != nil {
		return result{}, err
	}
	defer func() {
		_ = h.env.Client.Delete(ctx, receiver)
		_ = poll(ctx, 30*time.Second, func() (bool, error) {
			err := h.env.Client.Get(ctx, client.ObjectKeyFromObject(receiver), receiver)
			return err != nil, nil
		})
	}()
	var path string
	if err := poll(ctx, time.Minute, func() (bool, error) {
		if err := h.env.Client.Get(ctx, client.ObjectKeyFromObject(receiver), receiver); err != nil {
			return false, err
		}
		path, _, _ = unstructured.NestedString(receiver.Object, "status", "webhookPath")
		return path != "", nil
	}); err != nil {
		return result{}, fmt.Errorf("the Receiver got no webhook path: %w (log: %s)", err, nc.logPath)
	}
	// The path answers 200 once the controller's cache has the Ready Receiver: a ping first.
	hook := "http://" + receiverAddr + path
	if err := poll(ctx, time.Minute, func() (bool, error) {
		code, err := postWebhook(ctx, hook, "ping", []byte(`{"zen":"bench"}`), token)
		return err == nil && code == http.StatusOK, nil
	}); err != nil {
		return result{}, fmt.Errorf("the Receiver does not answer: %w (log: %s)", err, nc.logPath)
	}
	before, err := g.kc.usage()
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	var applied []float64
	for i := range latencySamples {
		value := fmt.Sprintf("webhook-%d", i)
		if err := g.change(value); err != nil {
			return result{}, err
		}
		pushed := time.Now()
		body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","after":"%040d"}`, i))
		if code, err := postWebhook(ctx, hook, "push", body, token); err != nil || code != http.StatusOK {
			return result{}, fmt.Errorf("the push webhook was answered %d: %v", code, err)
		}
		cm := &corev1.ConfigMap{}
		if err := poll(ctx, 2*time.Minute, func() (bool, error) {
			err := h.env.Client.Get(ctx, client.ObjectKey{Namespace: g.ns, Name: "app-000-web"}, cm)
			return err == nil && cm.Data["greeting"] == value, client.IgnoreNotFound(err)
		}); err != nil {
			return result{}, fmt.Errorf("webhook push %d not applied: %w", i, err)
		}
		applied = append(applied, time.Since(pushed).Seconds())
	}
	r, err := g.kc.since(before, start)
	if err != nil {
		return result{}, err
	}
	ncUse, err := nc.usage()
	if err != nil {
		return result{}, err
	}
	r.Scenario = "webhook-push-to-applied"
	r.Note = fmt.Sprintf("a commit to the base of %d apps, announced by a signed GitHub push webhook to a Receiver, until the first app's ConfigMap changed; median of %d", latencyApps, latencySamples)
	r.WallSec = medianOf(applied)
	r.Extra = map[string]float64{
		"slowest push applied (s)":               round(slices.Max(applied)),
		"notification-controller peak RSS (MiB)": float64(int(ncUse.PeakRSSMiB)),
	}
	return r, nil
}

// postWebhook sends a GitHub webhook call, signed with the token.
func postWebhook(ctx context.Context, url, event string, body []byte, token string) (int, error) {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := notifyClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

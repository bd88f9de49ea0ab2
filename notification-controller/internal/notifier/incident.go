package notifier

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/driftless-dev/driftless/pkg/apis/event"
)

func init() {
	register("pagerduty", newPagerDuty)
	register("opsgenie", newOpsgenie)
	register("alertmanager", addressed(func(cfg *Config) Notifier { return &alertmanager{cfg: cfg} }))
	register("grafana", addressed(func(cfg *Config) Notifier { return &grafana{cfg: cfg} }))
	register("datadog", newDatadog)
	register("sentry", newSentry)
}

// pagerDuty sends Events API v2 events: an error triggers an incident keyed by the object,
// anything else resolves it and records a change event.
type pagerDuty struct {
	cfg  *Config
	base string
}

func newPagerDuty(cfg *Config) (Notifier, error) {
	if cfg.Address == "" {
		cfg.Address = "https://events.pagerduty.com"
	}
	u, err := httpURL("address", cfg.Address)
	if err != nil {
		return nil, err
	}
	if cfg.Channel == "" {
		return nil, fmt.Errorf("a pagerduty Provider needs the integration's routing key as its channel")
	}
	return &pagerDuty{cfg: cfg, base: u.Scheme + "://" + u.Host}, nil
}

func (p *pagerDuty) Post(ctx context.Context, ev *event.Event) error {
	if ev.Reason == "Progressing" {
		return nil // neither a failure nor a recovery
	}
	name := strings.ToLower(ev.InvolvedObject.Kind + "/" + ev.InvolvedObject.Name)
	summary := description(ev) + ": " + name
	details := map[string]any{"message": ev.Message, "metadata": ev.Metadata}
	source := "Flux " + ev.ReportingController
	dedup := string(ev.InvolvedObject.UID)
	if dedup == "" {
		dedup = objectID(ev)
	}
	alert := map[string]any{"routing_key": p.cfg.Channel, "event_action": "resolve", "dedup_key": dedup}
	if ev.Severity == event.SeverityError {
		alert["event_action"] = "trigger"
		alert["payload"] = map[string]any{
			"summary":        truncate(summary, 1024),
			"source":         source,
			"severity":       "error",
			"timestamp":      ev.Timestamp.UTC().Format(time.RFC3339),
			"component":      ev.InvolvedObject.Name,
			"group":          ev.InvolvedObject.Kind,
			"custom_details": details,
		}
	}
	if err := p.cfg.do(ctx, call{url: p.base + "/v2/enqueue", body: alert}); err != nil {
		return err
	}
	if ev.Severity == event.SeverityError {
		return nil
	}
	change := map[string]any{
		"routing_key": p.cfg.Channel,
		"payload": map[string]any{
			"summary":        truncate(summary, 1024),
			"source":         source,
			"timestamp":      ev.Timestamp.UTC().Format(time.RFC3339),
			"custom_details": details,
		},
	}
	return p.cfg.do(ctx, call{url: p.base + "/v2/change/enqueue", body: change})
}

// opsgenie creates an alert with the API key.
type opsgenie struct{ cfg *Config }

func newOpsgenie(cfg *Config) (Notifier, error) {
	if cfg.Address == "" {
		cfg.Address = "https://api.opsgenie.com/v2/alerts"
	}
	if _, err := httpURL("address", cfg.Address); err != nil {
		return nil, err
	}
	if cfg.Token == "" {
		return nil, fmt.Errorf("an opsgenie Provider needs the API key as the 'token' in its Secret")
	}
	return &opsgenie{cfg: cfg}, nil
}

func (o *opsgenie) Post(ctx context.Context, ev *event.Event) error {
	details := map[string]string{"severity": ev.Severity}
	for k, v := range ev.Metadata {
		details[k] = v
	}
	payload := map[string]any{
		"message":     truncate(objectName(ev)+": "+ev.Message, 130),
		"description": truncate(ev.Message, 15000),
		"alias":       truncate(objectID(ev), 512),
		"source":      ev.ReportingController,
		"details":     details,
		"tags":        []string{"flux", ev.InvolvedObject.Kind, ev.Severity},
	}
	return o.cfg.do(ctx, call{url: o.cfg.Address, body: payload, header: map[string]string{"Authorization": "GenieKey " + o.cfg.Token}})
}

// alertmanager posts a firing alert to /api/v2/alerts, labelled by the object and reason.
type alertmanager struct{ cfg *Config }

func (a *alertmanager) Post(ctx context.Context, ev *event.Event) error {
	labels := map[string]string{}
	annotations := map[string]string{"message": ev.Message}
	for k, v := range ev.Metadata {
		if k == "summary" {
			annotations["summary"] = v
			continue
		}
		labels[k] = v
	}
	reason := ev.Reason
	if reason != "" {
		reason = strings.ToUpper(reason[:1]) + reason[1:]
	}
	labels["alertname"] = "Flux" + ev.InvolvedObject.Kind + reason
	labels["severity"] = ev.Severity
	labels["reason"] = ev.Reason
	labels["kind"] = ev.InvolvedObject.Kind
	labels["name"] = ev.InvolvedObject.Name
	labels["namespace"] = ev.InvolvedObject.Namespace
	labels["reportingcontroller"] = ev.ReportingController
	payload := []any{map[string]any{
		"status":      "firing",
		"labels":      labels,
		"annotations": annotations,
		"startsAt":    ev.Timestamp.UTC().Format(time.RFC3339),
	}}
	c := call{url: a.cfg.Address, body: payload}
	if a.cfg.Token != "" {
		c.header = map[string]string{"Authorization": "Bearer " + a.cfg.Token}
	} else if a.cfg.Username != "" && a.cfg.Password != "" {
		c.user, c.password = a.cfg.Username, a.cfg.Password
	}
	return a.cfg.do(ctx, c)
}

// grafana adds an annotation, tagged so that dashboards can filter on it.
type grafana struct{ cfg *Config }

func (g *grafana) Post(ctx context.Context, ev *event.Event) error {
	tags := []string{"flux", ev.ReportingController}
	for _, k := range sortedKeys(ev) {
		tags = append(tags, strings.ReplaceAll(k, ":", "|")+": "+strings.ReplaceAll(ev.Metadata[k], ":", "|"))
	}
	tags = append(tags, "kind: "+ev.InvolvedObject.Kind, "name: "+ev.InvolvedObject.Name, "namespace: "+ev.InvolvedObject.Namespace)
	payload := map[string]any{"when": ev.Timestamp.Unix(), "text": objectName(ev), "tags": tags}
	c := call{url: g.cfg.Address, body: payload}
	if g.cfg.Token != "" {
		c.header = map[string]string{"Authorization": "Bearer " + g.cfg.Token}
	} else if g.cfg.Username != "" && g.cfg.Password != "" {
		c.user, c.password = g.cfg.Username, g.cfg.Password
	}
	return g.cfg.do(ctx, c)
}

// datadog creates an event with the API key, tagged as Datadog's Kubernetes integration tags.
type datadog struct {
	cfg *Config
	url string
}

func newDatadog(cfg *Config) (Notifier, error) {
	if cfg.Address == "" {
		cfg.Address = "https://api.datadoghq.com"
	}
	u, err := httpURL("address", cfg.Address)
	if err != nil {
		return nil, err
	}
	if cfg.Token == "" {
		return nil, fmt.Errorf("a datadog Provider needs the API key as the 'token' in its Secret")
	}
	return &datadog{cfg: cfg, url: u.Scheme + "://" + u.Host + "/api/v1/events"}, nil
}

func (d *datadog) Post(ctx context.Context, ev *event.Event) error {
	tags := []string{
		"flux_reporting_controller:" + ev.ReportingController,
		"flux_reason:" + ev.Reason,
		"kube_kind:" + ev.InvolvedObject.Kind,
		"kube_name:" + ev.InvolvedObject.Name,
		"kube_namespace:" + ev.InvolvedObject.Namespace,
	}
	for _, k := range sortedKeys(ev) {
		tags = append(tags, k+":"+ev.Metadata[k])
	}
	for i := range tags {
		tags[i] = strings.ToLower(tags[i])
	}
	alertType := "info"
	if ev.Severity == event.SeverityError {
		alertType = "error"
	}
	payload := map[string]any{
		"title":            fmt.Sprintf("Events from the %s %s/%s", ev.InvolvedObject.Kind, ev.InvolvedObject.Name, ev.InvolvedObject.Namespace),
		"text":             ev.Message,
		"tags":             tags,
		"source_type_name": "fluxcd",
		"date_happened":    ev.Timestamp.Unix(),
		"alert_type":       alertType,
	}
	return d.cfg.do(ctx, call{url: d.url, body: payload, header: map[string]string{"DD-API-KEY": d.cfg.Token}})
}

// sentry sends the event to a project's envelope endpoint, which the DSN (the address)
// names; the channel is the environment.
type sentry struct {
	cfg      *Config
	url, key string
}

func newSentry(cfg *Config) (Notifier, error) {
	u, err := requireAddress(cfg)
	if err != nil {
		return nil, err
	}
	key := u.User.Username()
	project := strings.Trim(u.Path, "/")
	if key == "" || project == "" {
		return nil, fmt.Errorf("a sentry Provider's address is a DSN: https://<key>@<host>/<project>")
	}
	prefix := ""
	if i := strings.LastIndex(project, "/"); i >= 0 {
		prefix, project = "/"+project[:i], project[i+1:]
	}
	return &sentry{cfg: cfg, url: u.Scheme + "://" + u.Host + prefix + "/api/" + project + "/envelope/", key: key}, nil
}

func (s *sentry) Post(ctx context.Context, ev *event.Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return permanent("the event cannot be encoded: %v", err)
	}
	// One id per event: a retried delivery is the same Sentry event.
	sum := sha256.Sum256(data)
	id := hex.EncodeToString(sum[:16])
	level := "info"
	if ev.Severity == event.SeverityError {
		level = "error"
	}
	payload := map[string]any{
		"event_id":    id,
		"timestamp":   ev.Timestamp.UTC().Format(time.RFC3339),
		"level":       level,
		"platform":    "other",
		"logger":      ev.ReportingController,
		"message":     map[string]string{"formatted": ev.Message},
		"environment": s.cfg.Channel,
		"tags": map[string]string{
			"flux.kind":      ev.InvolvedObject.Kind,
			"flux.name":      ev.InvolvedObject.Name,
			"flux.namespace": ev.InvolvedObject.Namespace,
			"flux.reason":    ev.Reason,
		},
		"extra": ev.Metadata,
	}
	item, err := json.Marshal(payload)
	if err != nil {
		return permanent("the event cannot be encoded: %v", err)
	}
	var body bytes.Buffer
	header, _ := json.Marshal(map[string]string{"event_id": id, "sent_at": time.Now().UTC().Format(time.RFC3339)})
	itemHeader, _ := json.Marshal(map[string]any{"type": "event", "length": len(item), "content_type": "application/json"})
	for _, line := range [][]byte{header, itemHeader, item} {
		body.Write(line)
		body.WriteByte('\n')
	}
	return s.cfg.do(ctx, call{url: s.url, body: body.Bytes(), header: map[string]string{
		"Content-Type":  "application/x-sentry-envelope",
		"X-Sentry-Auth": "Sentry sentry_version=7, sentry_client=driftless/1, sentry_key=" + s.key,
	}})
}

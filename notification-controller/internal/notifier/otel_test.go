package notifier

import (
	"encoding/hex"
	"net/http"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/driftless-dev/driftless/pkg/apis/event"
)

// An OTLP/HTTP endpoint on 127.0.0.1 gets one span per event: named after the object, with
// its metadata as attributes, an error status for an error, the same ids for the same
// revision, and the Provider's token.
func TestOTelExportsASpan(t *testing.T) {
	s := newService(t)
	cfg := Config{Type: "otel", Address: s.URL + "/v1/traces", Token: "otel-token", AlertNamespace: "flux-system", AlertName: "all", AlertUID: "alert-uid"}
	post(t, cfg, testEvent(event.SeverityError))
	post(t, cfg, testEvent(event.SeverityError))
	got := s.got()
	if len(got) != 2 {
		t.Fatalf("%d exports, want 2", len(got))
	}
	var spanIDs []string
	for _, r := range got {
		if r.path != "/v1/traces" || r.header.Get("Authorization") != "Bearer otel-token" || r.header.Get("Content-Type") != "application/x-protobuf" {
			t.Fatalf("export: %s %v", r.path, r.header)
		}
		req := &coltrace.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(r.body, req); err != nil {
			t.Fatal(err)
		}
		rs := req.GetResourceSpans()
		if len(rs) != 1 || len(rs[0].GetScopeSpans()) != 1 || len(rs[0].GetScopeSpans()[0].GetSpans()) != 1 {
			t.Fatalf("spans: %v", req)
		}
		span := rs[0].GetScopeSpans()[0].GetSpans()[0]
		if span.GetName() != "Kustomization: flux-system/apps" || span.GetStatus().GetMessage() != "Deployment/apps/web: not ready" || span.GetStatus().GetCode() != 2 {
			t.Errorf("span: %v", span)
		}
		attrs := map[string]string{}
		for _, kv := range span.GetAttributes() {
			attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		if attrs["object.kind"] != "Kustomization" || attrs["summary"] != "prod eu-west" {
			t.Errorf("attributes: %v", attrs)
		}
		service := ""
		for _, kv := range rs[0].GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				service = kv.GetValue().GetStringValue()
			}
		}
		if service != "flux-system/all" {
			t.Errorf("service.name = %q", service)
		}
		spanIDs = append(spanIDs, hex.EncodeToString(span.GetSpanId()))
	}
	if spanIDs[0] != spanIDs[1] {
		t.Errorf("the same event made spans %v", spanIDs)
	}
	s.status = http.StatusServiceUnavailable
	n, _ := New(cfg)
	if err := n.Post(t.Context(), testEvent(event.SeverityInfo)); err == nil || !Retryable(err) {
		t.Errorf("Post to an unavailable endpoint = %v, want a retryable error", err)
	}
}

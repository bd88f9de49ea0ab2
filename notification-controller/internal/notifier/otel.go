package notifier

import (
	"context"
	"crypto/sha256"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/driftless-dev/driftless/pkg/apis/event"
)

func init() { register("otel", addressed(func(cfg *Config) Notifier { return &otelTracer{cfg: cfg} })) }

// otelTracer exports one span per event to an OTLP/HTTP endpoint. The events of one Alert
// for one revision share a trace (its id derives from the Alert's UID and the revision), and
// an object's span id derives from its UID and the revision, so that a retried delivery is
// the same span.
type otelTracer struct{ cfg *Config }

// derivedIDs gives the span the ids its event determines.
type derivedIDs struct {
	trace trace.TraceID
	span  trace.SpanID
}

func (d derivedIDs) NewIDs(context.Context) (trace.TraceID, trace.SpanID)  { return d.trace, d.span }
func (d derivedIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID { return d.span }

func digest(parts ...string) [32]byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{':'})
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func (o *otelTracer) Post(ctx context.Context, ev *event.Event) error {
	header := map[string]string{}
	for k, v := range o.cfg.Headers {
		header[k] = v
	}
	if header["Authorization"] == "" {
		switch {
		case o.cfg.Token != "":
			header["Authorization"] = "Bearer " + o.cfg.Token
		case o.cfg.Username != "" && o.cfg.Password != "":
			header["Authorization"] = basicAuth(o.cfg.Username, o.cfg.Password)
		}
	}
	exporter, err := otlptracehttp.New(ctx,
		otlptracehttp.WithEndpointURL(o.cfg.Address),
		otlptracehttp.WithHTTPClient(o.cfg.Client),
		otlptracehttp.WithHeaders(header),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}), // the dispatcher retries
	)
	if err != nil {
		return permanent("the OTLP exporter cannot be made: %s", withoutAddressText(err.Error(), o.cfg.Address))
	}
	revision, _ := commitOrRevision(ev)
	traceID, spanID := digest(o.cfg.AlertUID, revision), digest(string(ev.InvolvedObject.UID), revision)
	var ids derivedIDs
	copy(ids.trace[:], traceID[:16])
	copy(ids.span[:], spanID[:8])
	ended := &collector{}
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(ended),
		sdktrace.WithIDGenerator(ids),
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", o.cfg.AlertNamespace+"/"+o.cfg.AlertName),
			attribute.String("service.namespace", o.cfg.AlertNamespace),
			attribute.String("service.instance.id", o.cfg.AlertUID),
		)),
	)
	attrs := []attribute.KeyValue{
		attribute.String("object.uid", string(ev.InvolvedObject.UID)),
		attribute.String("object.kind", ev.InvolvedObject.Kind),
		attribute.String("object.name", ev.InvolvedObject.Name),
		attribute.String("object.namespace", ev.InvolvedObject.Namespace),
		attribute.String("event.reason", ev.Reason),
	}
	for _, k := range sortedKeys(ev) {
		attrs = append(attrs, attribute.String(k, ev.Metadata[k]))
	}
	_, span := provider.Tracer("flux:notification-controller").Start(ctx,
		fmt.Sprintf("%s: %s/%s", ev.InvolvedObject.Kind, ev.InvolvedObject.Namespace, ev.InvolvedObject.Name),
		trace.WithAttributes(attrs...), trace.WithTimestamp(ev.Timestamp.Time))
	if ev.Severity == event.SeverityError {
		span.SetStatus(codes.Error, ev.Message)
	} else {
		span.SetStatus(codes.Ok, ev.Message)
	}
	span.End()
	_ = provider.Shutdown(ctx)
	// Exported here rather than by a processor, whose errors go to a global handler.
	err = exporter.ExportSpans(ctx, ended.spans)
	_ = exporter.Shutdown(ctx)
	if err != nil {
		return &Error{Retry: true, Err: fmt.Errorf("exporting the span failed: %s", withoutAddressText(err.Error(), o.cfg.Address))}
	}
	return nil
}

// collector keeps the spans that end, for one export.
type collector struct{ spans []sdktrace.ReadOnlySpan }

func (c *collector) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (c *collector) OnEnd(s sdktrace.ReadOnlySpan)                   { c.spans = append(c.spans, s) }
func (c *collector) Shutdown(context.Context) error                  { return nil }
func (c *collector) ForceFlush(context.Context) error                { return nil }

// commitOrRevision is the revision a trace groups by: the commit where there is one.
func commitOrRevision(ev *event.Event) (string, bool) {
	if sha, ok := commitOf(ev); ok {
		return sha, true
	}
	rev, ok := ev.Metadata[event.MetaRevisionKey]
	return rev, ok
}

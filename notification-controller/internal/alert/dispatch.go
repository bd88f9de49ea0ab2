package alert

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	notifyv1beta3 "github.com/driftless-dev/driftless/notification-controller/api/v1beta3"
	"github.com/driftless-dev/driftless/notification-controller/internal/notifier"
	"github.com/driftless-dev/driftless/pkg/apis/event"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
)

// Reasons of the Warning events on Alerts.
const (
	DispatchFailedReason = "NotificationDispatchFailed"
	InvalidAlertReason   = "InvalidAlert"
	// MetadataAppendFailedReason: an Alert's eventMetadata or summary names a key the event
	// already has.
	MetadataAppendFailedReason = "MetadataAppendFailed"
)

// Defaults of a Dispatcher.
const (
	defaultQueueSize    = 10000
	defaultProviderSize = 1000
	defaultTimeout      = 15 * time.Second
	// attempts is how many times a delivery is tried before it fails.
	attempts = 4
)

// Dispatcher matches events against Alerts and delivers them to Providers. Matching runs on
// its own goroutine, fed by a bounded queue; each Provider has a queue and a goroutine of its
// own, which delivers in order and retries with backoff.
type Dispatcher struct {
	// Client reads Alerts and Providers from the cache, and the objects whose labels an
	// Alert selects on.
	Client client.Client
	// APIReader reads Providers' Secrets.
	APIReader client.Reader
	// Events records the Warning events of Alerts.
	Events *events.Recorder
	// NoCrossNamespaceRefs ignores event sources in another namespace than the Alert's.
	NoCrossNamespaceRefs bool
	// QueueSize bounds the events waiting to be matched; ProviderQueueSize the deliveries
	// waiting for one Provider.
	QueueSize, ProviderQueueSize int
	// Backoff is the wait before the first retry of a delivery; it doubles at each one.
	Backoff time.Duration
	Log     logr.Logger

	once    sync.Once
	intake  chan *event.Event
	mu      sync.Mutex
	workers map[types.NamespacedName]chan delivery
	ctx     context.Context
	metrics *dispatchMetrics

	clientsMu sync.Mutex
	clients   map[string]*http.Client
}

// delivery is an event on its way to one Provider for one Alert.
type delivery struct {
	alert    *notifyv1beta3.Alert
	provider types.NamespacedName
	event    *event.Event
}

type dispatchMetrics struct {
	received   *prometheus.CounterVec
	deliveries *prometheus.CounterVec
}

var (
	metricsOnce   sync.Once
	sharedMetrics *dispatchMetrics
)

func newMetrics() *dispatchMetrics {
	metricsOnce.Do(func() {
		sharedMetrics = &dispatchMetrics{
			received: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "driftless_notification_events_received_total",
				Help: "Events posted to notification-controller, by outcome: accepted, duplicate, queue_full.",
			}, []string{"outcome"}),
			deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "driftless_notification_deliveries_total",
				Help: "Event deliveries to Providers, by Provider and outcome: delivered, failed, dropped (the Provider's queue was full).",
			}, []string{"namespace", "provider", "outcome"}),
		}
		crmetrics.Registry.MustRegister(sharedMetrics.received, sharedMetrics.deliveries)
	})
	return sharedMetrics
}

func (d *Dispatcher) init() {
	d.once.Do(func() {
		if d.QueueSize <= 0 {
			d.QueueSize = defaultQueueSize
		}
		if d.ProviderQueueSize <= 0 {
			d.ProviderQueueSize = defaultProviderSize
		}
		if d.Backoff <= 0 {
			d.Backoff = time.Second
		}
		d.intake = make(chan *event.Event, d.QueueSize)
		d.workers = map[types.NamespacedName]chan delivery{}
		d.metrics = newMetrics()
	})
}

// Enqueue queues an event for matching; false when the queue is full.
func (d *Dispatcher) Enqueue(ev *event.Event) bool {
	d.init()
	select {
	case d.intake <- ev:
		return true
	default:
		return false
	}
}

// Start implements manager.Runnable: it matches events until ctx ends.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.init()
	d.mu.Lock()
	d.ctx = ctx
	d.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-d.intake:
			d.match(ctx, ev)
		}
	}
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: each replica delivers what
// it received.
func (d *Dispatcher) NeedLeaderElection() bool { return false }

// match hands the event to the Provider of every Alert that wants it.
func (d *Dispatcher) match(ctx context.Context, ev *event.Event) {
	// The cache's own objects, not copies: a delivery waiting in a slow Provider's queue holds
	// its Alert, and a copy of every Alert per event held thousands of them. Nothing here
	// writes to an Alert.
	alerts := &notifyv1beta3.AlertList{}
	if err := d.Client.List(ctx, alerts, client.UnsafeDisableDeepCopy); err != nil {
		d.Log.Error(err, "listing Alerts; event not matched", "object", objectName(ev))
		return
	}
	for i := range alerts.Items {
		// One Alert, not the list's array, goes with each delivery.
		alert := alerts.Items[i]
		a := &alert
		ok, err := d.wants(ctx, a, ev)
		if err != nil {
			d.Events.Eventf(a, corev1.EventTypeWarning, InvalidAlertReason, "%s", err.Error())
			continue
		}
		if !ok {
			continue
		}
		provider := types.NamespacedName{Namespace: a.Namespace, Name: a.Spec.ProviderRef.Name}
		d.send(delivery{alert: a, provider: provider, event: ev})
	}
}

// wants reports whether the Alert selects the event.
func (d *Dispatcher) wants(ctx context.Context, a *notifyv1beta3.Alert, ev *event.Event) (bool, error) {
	if a.Spec.Suspend || ev.Severity == event.SeverityTrace {
		return false, nil
	}
	if a.Spec.EventSeverity == event.SeverityError && ev.Severity != event.SeverityError {
		return false, nil
	}
	selected := false
	for _, src := range a.Spec.EventSources {
		ns := src.Namespace
		if ns == "" {
			ns = a.Namespace
		}
		if d.NoCrossNamespaceRefs && ns != a.Namespace {
			continue
		}
		if src.Kind != ev.InvolvedObject.Kind || ns != ev.InvolvedObject.Namespace || (src.Name != "*" && src.Name != ev.InvolvedObject.Name) {
			continue
		}
		if len(src.MatchLabels) > 0 {
			live := &unstructured.Unstructured{}
			live.SetAPIVersion(ev.InvolvedObject.APIVersion)
			live.SetKind(ev.InvolvedObject.Kind)
			if err := d.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: ev.InvolvedObject.Name}, live); err != nil {
				continue // gone, or not readable: its labels cannot be matched
			}
			if !labels.SelectorFromSet(src.MatchLabels).Matches(labels.Set(live.GetLabels())) {
				continue
			}
		}
		selected = true
		break
	}
	if !selected {
		return false, nil
	}
	if len(a.Spec.InclusionList) > 0 {
		included := false
		for _, expr := range a.Spec.InclusionList {
			re, err := regexp.Compile(expr)
			if err != nil {
				return false, fmt.Errorf("spec.inclusionList: '%s' is not a valid regular expression: %v", expr, err)
			}
			included = included || re.MatchString(ev.Message)
		}
		if !included {
			return false, nil
		}
	}
	for _, expr := range a.Spec.ExclusionList {
		re, err := regexp.Compile(expr)
		if err != nil {
			return false, fmt.Errorf("spec.exclusionList: '%s' is not a valid regular expression: %v", expr, err)
		}
		if re.MatchString(ev.Message) {
			return false, nil
		}
	}
	return true, nil
}

// send queues a delivery on its Provider's goroutine, starting it if need be. A full queue
// fails the delivery at once: a dead Provider never holds up the others.
func (d *Dispatcher) send(dl delivery) {
	d.mu.Lock()
	q, ok := d.workers[dl.provider]
	if !ok {
		q = make(chan delivery, d.ProviderQueueSize)
		d.workers[dl.provider] = q
		go d.work(q)
	}
	d.mu.Unlock()
	select {
	case q <- dl:
	default:
		d.metrics.deliveries.WithLabelValues(dl.provider.Namespace, dl.provider.Name, "dropped").Inc()
		d.Events.Eventf(dl.alert, corev1.EventTypeWarning, DispatchFailedReason,
			"failed to send notification for %s to Provider '%s': its queue of %d is full", objectName(dl.event), dl.provider.Name, d.ProviderQueueSize)
	}
}

// work delivers one Provider's events in order until the dispatcher stops.
func (d *Dispatcher) work(q chan delivery) {
	d.mu.Lock()
	ctx := d.ctx
	d.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case dl := <-q:
			d.deliver(ctx, dl)
		}
	}
}

// deliver tries a delivery until it succeeds, fails for good, or is out of attempts.
func (d *Dispatcher) deliver(ctx context.Context, dl delivery) {
	wait := d.Backoff
	var err error
	for i := 0; i < attempts; i++ {
		var retry bool
		if retry, err = d.post(ctx, dl); err == nil {
			d.metrics.deliveries.WithLabelValues(dl.provider.Namespace, dl.provider.Name, "delivered").Inc()
			return
		}
		if !retry || i == attempts-1 {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
	d.metrics.deliveries.WithLabelValues(dl.provider.Namespace, dl.provider.Name, "failed").Inc()
	d.Events.Eventf(dl.alert, corev1.EventTypeWarning, DispatchFailedReason,
		"failed to send notification for %s to Provider '%s': %s", objectName(dl.event), dl.provider.Name, err.Error())
}

// post sends the event to the Provider once; retry says whether another attempt may succeed.
// Its errors never carry the address or a credential.
func (d *Dispatcher) post(ctx context.Context, dl delivery) (retry bool, err error) {
	p := &notifyv1beta3.Provider{}
	if err := d.Client.Get(ctx, dl.provider, p); err != nil {
		return false, fmt.Errorf("the Provider cannot be read: %v", err)
	}
	if p.Spec.Suspend {
		return false, nil // a suspended Provider sends nothing, and that is no failure
	}
	ev, conflicts := payload(dl.alert, dl.event)
	if len(conflicts) > 0 {
		d.Events.Eventf(dl.alert, corev1.EventTypeWarning, MetadataAppendFailedReason,
			"metadata of %s already has the key(s) %s: the Alert's values were not added", objectName(dl.event), strings.Join(conflicts, ", "))
	}
	if !accepts(p, ev) {
		return false, nil
	}
	r, err := d.resolve(ctx, p, dl.alert)
	if err != nil {
		return notifier.Retryable(err), err
	}
	timeout := defaultTimeout
	if p.Spec.Timeout != nil && p.Spec.Timeout.Duration > 0 {
		timeout = p.Spec.Timeout.Duration
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := r.notifier.Post(ctx, ev); err != nil {
		return notifier.Retryable(err), errors.New(scrub(err.Error(), r.secrets))
	}
	return false, nil
}

// payload is the event as Providers get it: metadata keys without their group prefix, with
// the Alert's eventMetadata and summary. The event's own keys win; the Alert's keys they
// override are returned, for a Warning, as Flux reports them.
func payload(a *notifyv1beta3.Alert, ev *event.Event) (*event.Event, []string) {
	out := ev.DeepCopy()
	out.Metadata = map[string]string{}
	group := groupOf(ev)
	for k, v := range ev.Metadata {
		k = strings.TrimPrefix(k, event.MetaPrefix)
		if group != "" {
			k = strings.TrimPrefix(k, group+"/")
		}
		out.Metadata[k] = v
	}
	var conflicts []string
	add := func(k, v string) {
		if old, taken := out.Metadata[k]; taken {
			if old != v {
				conflicts = append(conflicts, k)
			}
			return
		}
		out.Metadata[k] = v
	}
	for _, k := range slices.Sorted(maps.Keys(a.Spec.EventMetadata)) {
		add(k, a.Spec.EventMetadata[k])
	}
	if a.Spec.Summary != "" {
		add("summary", a.Spec.Summary)
	}
	if len(out.Metadata) == 0 {
		out.Metadata = nil
	}
	return out, conflicts
}

func objectName(ev *event.Event) string {
	return ev.InvolvedObject.Kind + "/" + ev.InvolvedObject.Namespace + "/" + ev.InvolvedObject.Name
}

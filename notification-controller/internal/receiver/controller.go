// Package receiver serves webhook Receivers: the reconciler gives each Receiver its secret
// webhook path, and the server turns a valid call to that path (a Git push, an image push) into
// a reconcile.fluxcd.io/requestedAt on the objects the Receiver selects.
package receiver

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"

	notifyv1 "github.com/driftless-dev/driftless/notification-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/cel"
	"github.com/driftless-dev/driftless/pkg/runtime/events"
	"github.com/driftless-dev/driftless/pkg/runtime/lifecycle"
	"github.com/driftless-dev/driftless/pkg/runtime/predicates"
	"github.com/driftless-dev/driftless/pkg/runtime/requeue"
)

// webhookPathIndex indexes Receivers by status.webhookPath, which the server looks them up by.
const webhookPathIndex = "status.webhookPath"

// celVars are the variables of a Receiver's filters: the object and the request body.
var celVars = []string{"res", "req", "claims"}

// Reconciler reconciles Receivers: it checks the spec, reads the token and records the webhook
// path the token makes.
type Reconciler struct {
	Client client.Client
	// APIReader reads the token Secret from the API server: Secrets are not cached.
	APIReader     client.Reader
	Events        *events.Recorder
	MinRetryDelay time.Duration
	MaxRetryDelay time.Duration
	Concurrent    int

	runtime *lifecycle.Reconciler[*notifyv1.Receiver, *scope]
}

type scope struct {
	*lifecycle.Scope[*notifyv1.Receiver]
}

var policy = &lifecycle.Policy[*notifyv1.Receiver]{
	Kind:         notifyv1.ReceiverKind,
	Group:        notifyv1.GroupVersion.Group,
	FailedReason: meta.ReconciliationFailedReason,
	Ready: func(obj *notifyv1.Receiver) (string, string) {
		return meta.SucceededReason, "Receiver initialized for path: " + obj.Status.WebhookPath
	},
}

// SetupWithManager registers the reconciler and the webhook path index.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &notifyv1.Receiver{}, webhookPathIndex, func(o client.Object) []string {
		if p := o.(*notifyv1.Receiver).Status.WebhookPath; p != "" {
			return []string{p}
		}
		return nil
	}); err != nil {
		return err
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	r.runtime = &lifecycle.Reconciler[*notifyv1.Receiver, *scope]{
		Client:      r.Client,
		Events:      r.Events,
		Policy:      policy,
		New:         func() *notifyv1.Receiver { return &notifyv1.Receiver{} },
		NewScope:    func(s *lifecycle.Scope[*notifyv1.Receiver]) *scope { return &scope{Scope: s} },
		Steps:       []lifecycle.Step[*scope]{{Run: r.reconcileSpec}, {Run: r.reconcileToken}},
		RateLimiter: requeue.NewRateLimiter(r.MinRetryDelay, r.MaxRetryDelay),
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&notifyv1.Receiver{}, builder.WithPredicates(predicates.SpecOrRequest())).
		WithOptions(r.runtime.ControllerOptions(r.Concurrent)).
		Complete(r)
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return r.runtime.Reconcile(ctx, req)
}

// supported are the receiver types this version validates calls of; the others are refused
// (Stalled), never served unchecked.
var supported = map[string]bool{
	notifyv1.GenericReceiver: true, notifyv1.GenericHMACReceiver: true, notifyv1.GenericOIDCReceiver: true,
	notifyv1.GitHubReceiver: true, notifyv1.GitLabReceiver: true, notifyv1.BitbucketReceiver: true,
	notifyv1.HarborReceiver: true, notifyv1.DockerHubReceiver: true, notifyv1.QuayReceiver: true,
	notifyv1.GCRReceiver: true, notifyv1.NexusReceiver: true, notifyv1.ACRReceiver: true,
	notifyv1.CDEventsReceiver: true,
}

// reconcileSpec refuses what no call could be served with: a type not supported yet, and
// filters that do not compile.
// Fails with: ValidationFailed, InvalidCELExpression (both Stalled).
func (r *Reconciler) reconcileSpec(_ context.Context, s *scope) error {
	obj := s.Object
	if !supported[obj.Spec.Type] {
		return lifecycle.Stalled("", notifyv1.ValidationFailedReason, fmt.Errorf("receiver type '%s' is not supported by this version of notification-controller", obj.Spec.Type))
	}
	exprs := []string{obj.Spec.ResourceFilter}
	for _, res := range obj.Spec.Resources {
		exprs = append(exprs, res.Filter)
	}
	for _, e := range exprs {
		if e == "" {
			continue
		}
		if _, err := cel.Compile(celVars, e); err != nil {
			return lifecycle.Stalled("", meta.InvalidCELExpressionReason, err)
		}
	}
	for i := range obj.Spec.OIDCProviders {
		if _, err := compileOIDC(&obj.Spec.OIDCProviders[i]); err != nil {
			return lifecycle.Stalled("", meta.InvalidCELExpressionReason, fmt.Errorf("spec.oidcProviders[%d]: %w", i, err))
		}
	}
	return nil
}

// reconcileToken reads the token and records the webhook path it makes.
// Fails with: TokenNotFound.
func (r *Reconciler) reconcileToken(ctx context.Context, s *scope) error {
	obj := s.Object
	if obj.Spec.Type == notifyv1.GenericOIDCReceiver {
		// The caller's ID token is the credential: the path derives from the name alone.
		obj.Status.WebhookPath = obj.WebhookPath("")
		return nil
	}
	token, err := readToken(ctx, r.APIReader, obj)
	if err != nil {
		return lifecycle.Failed("", meta.TokenNotFoundReason, err)
	}
	obj.Status.WebhookPath = obj.WebhookPath(token)
	return nil
}

// errNoToken marks a Receiver whose token cannot be read.
var errNoToken = errors.New("token not found")

// readToken returns the token of the Receiver's secretRef.
func readToken(ctx context.Context, c client.Reader, obj *notifyv1.Receiver) (string, error) {
	data, err := readSecret(ctx, c, obj)
	if err != nil {
		return "", err
	}
	return string(data["token"]), nil
}

// readSecret returns the data of the Receiver's secretRef, which has a token.
func readSecret(ctx context.Context, c client.Reader, obj *notifyv1.Receiver) (map[string][]byte, error) {
	if obj.Spec.SecretRef == nil || obj.Spec.SecretRef.Name == "" {
		return nil, fmt.Errorf("%w: spec.secretRef is not set", errNoToken)
	}
	secret := &corev1.Secret{}
	key := types.NamespacedName{Namespace: obj.Namespace, Name: obj.Spec.SecretRef.Name}
	if err := c.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: Secret '%s' does not exist", errNoToken, key)
		}
		return nil, fmt.Errorf("reading Secret '%s': %w", key, err)
	}
	if len(secret.Data["token"]) == 0 {
		return nil, fmt.Errorf("%w: Secret '%s' has no 'token' key", errNoToken, key)
	}
	return secret.Data, nil
}

package receiver

import (
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // GitHub-style sha1 signatures are still sent by some senders
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	notifyv1 "github.com/driftless-dev/driftless/notification-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
	"github.com/driftless-dev/driftless/pkg/runtime/cel"
	"github.com/driftless-dev/driftless/pkg/runtime/conditions"
	"github.com/driftless-dev/driftless/pkg/runtime/serve"
)

// MaxBodyBytes caps a webhook's body: push events of big commits are a few hundred KiB.
const MaxBodyBytes = 4 << 20

// Server serves Receivers' webhook paths (--receiverAddr).
type Server struct {
	// Addr is the address to listen on.
	Addr string
	// Client reads Receivers from the cache (by webhook path) and patches the objects they
	// select.
	Client client.Client
	// APIReader reads the token Secrets.
	APIReader client.Reader
	// NoCrossNamespaceRefs refuses resources in another namespace than the Receiver's.
	NoCrossNamespaceRefs bool
	Log                  logr.Logger
	// Now stamps requestedAt; time.Now when nil.
	Now func() time.Time
	// GoogleIssuer is the issuer of the tokens gcr Receivers verify; Google's when empty.
	GoogleIssuer string

	issuers issuerCache
}

// Start implements manager.Runnable: it serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	return serve.Listen(ctx, s.Addr, serve.Webhook(s))
}

// Serve serves on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return serve.Serve(ctx, ln, serve.Webhook(s))
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every replica serves.
func (s *Server) NeedLeaderElection() bool { return false }

// refusal is an answer other than 200, with what the log may say of it.
type refusal struct {
	code int
	msg  string
}

func (r *refusal) Error() string { return r.msg }

func refuse(code int, format string, args ...any) error {
	return &refusal{code: code, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP answers a call as Flux does: 404 for a path no Receiver has, 503 for a suspended
// or not Ready Receiver, 400 for a call that fails validation, 500 when an object could not be
// annotated, 200 once every selected object is.
func (s *Server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !strings.HasPrefix(req.URL.Path, notifyv1.ReceiverWebhookPathPrefix) {
		http.NotFound(w, req)
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	err := s.handle(req.Context(), req)
	var r *refusal
	switch {
	case err == nil:
		w.WriteHeader(http.StatusOK)
	case errors.As(err, &r):
		s.Log.V(1).Info("webhook refused", "path", req.URL.Path, "code", r.code, "reason", r.msg)
		http.Error(w, http.StatusText(r.code), r.code)
	default:
		s.Log.Error(err, "webhook failed", "path", req.URL.Path)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
	}
}

func (s *Server) handle(ctx context.Context, req *http.Request) error {
	list := &notifyv1.ReceiverList{}
	if err := s.Client.List(ctx, list, client.MatchingFields{webhookPathIndex: req.URL.Path}); err != nil {
		return err
	}
	if len(list.Items) == 0 {
		return refuse(http.StatusNotFound, "no Receiver has this path")
	}
	obj := &list.Items[0]
	if obj.Spec.Suspend || !conditions.IsTrue(obj, meta.ReadyCondition) {
		return refuse(http.StatusServiceUnavailable, "Receiver %s/%s is suspended or not ready", obj.Namespace, obj.Name)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxBodyBytes+1))
	if err != nil {
		return refuse(http.StatusBadRequest, "reading the body: %v", err)
	}
	if len(body) > MaxBodyBytes {
		return refuse(http.StatusRequestEntityTooLarge, "body over %d bytes", MaxBodyBytes)
	}
	// The path already proves the caller knows it; the type's check proves the call is the
	// sender's, and its event one the Receiver wants.
	var event string
	var claims map[string]any
	if obj.Spec.Type == notifyv1.GenericOIDCReceiver {
		if claims, err = s.verifyOIDC(ctx, obj, req.Header); err != nil {
			return refuse(http.StatusBadRequest, "validation failed: %v", err)
		}
	} else {
		secret, err := readSecret(ctx, s.APIReader, obj)
		if err != nil {
			return refuse(http.StatusServiceUnavailable, "%v", err)
		}
		if obj.Spec.Type == notifyv1.GCRReceiver {
			event, err = s.verifyGCR(ctx, req.Header, body, secret)
		} else {
			event, err = validate(obj.Spec.Type, req.Header, body, string(secret["token"]))
		}
		if err != nil {
			return refuse(http.StatusBadRequest, "validation failed: %v", err)
		}
	}
	if event == "ping" {
		return nil // GitHub's check of a new hook: nothing to reconcile
	}
	if len(obj.Spec.Events) > 0 && !containsFold(obj.Spec.Events, event) {
		return refuse(http.StatusBadRequest, "event '%s' is not one of spec.events", event)
	}
	var payload any
	if len(body) > 0 && json.Unmarshal(body, &payload) != nil {
		payload = nil
	}
	return s.requestReconciles(ctx, obj, payload, claims)
}

// validate checks a call the way its sender signs it, and returns its event type.
func validate(kind string, h http.Header, body []byte, token string) (string, error) {
	switch kind {
	case notifyv1.GenericReceiver:
		return "", nil
	case notifyv1.GenericHMACReceiver:
		return "", checkSignature(h.Get("X-Signature"), body, token)
	case notifyv1.GitHubReceiver: // and Gitea, which signs the same way
		sig := h.Get("X-Hub-Signature-256")
		if sig == "" {
			sig = h.Get("X-Hub-Signature")
		}
		if err := checkSignature(sig, body, token); err != nil {
			return "", err
		}
		event := h.Get("X-GitHub-Event")
		if event == "" {
			event = h.Get("X-Gitea-Event")
		}
		return event, nil
	case notifyv1.GitLabReceiver:
		if subtle.ConstantTimeCompare([]byte(h.Get("X-Gitlab-Token")), []byte(token)) != 1 {
			return "", errors.New("the X-Gitlab-Token header does not match the token")
		}
		return h.Get("X-Gitlab-Event"), nil
	case notifyv1.BitbucketReceiver:
		if err := checkSignature(h.Get("X-Hub-Signature"), body, token); err != nil {
			return "", err
		}
		return h.Get("X-Event-Key"), nil
	case notifyv1.HarborReceiver:
		if subtle.ConstantTimeCompare([]byte(h.Get("Authorization")), []byte(token)) != 1 {
			return "", errors.New("the Authorization header does not match the token")
		}
		return "", nil
	case notifyv1.NexusReceiver:
		// Nexus signs with HMAC-SHA1, bare hex.
		if err := checkSignature("sha1="+h.Get("X-Nexus-Webhook-Signature"), body, token); err != nil {
			return "", err
		}
		return "", nil
	case notifyv1.DockerHubReceiver:
		var p struct {
			PushData struct {
				Tag string `json:"tag"`
			} `json:"push_data"`
			Repository struct {
				RepoName string `json:"repo_name"`
			} `json:"repository"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Repository.RepoName == "" {
			return "", errors.New("the body is not a Docker Hub push payload")
		}
		return "", nil
	case notifyv1.QuayReceiver:
		var p struct {
			DockerURL   string   `json:"docker_url"`
			UpdatedTags []string `json:"updated_tags"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.DockerURL == "" {
			return "", errors.New("the body is not a Quay repository push payload")
		}
		return "", nil
	case notifyv1.ACRReceiver:
		var p struct {
			Action string `json:"action"`
			Target struct {
				Repository string `json:"repository"`
				Tag        string `json:"tag"`
			} `json:"target"`
		}
		if err := json.Unmarshal(body, &p); err != nil || p.Target.Repository == "" {
			return "", errors.New("the body is not an Azure Container Registry webhook payload")
		}
		return p.Action, nil
	case notifyv1.CDEventsReceiver:
		return validateCDEvent(h, body)
	}
	return "", fmt.Errorf("receiver type '%s' is not supported", kind)
}

// validateCDEvent checks a CDEvent sent over HTTP in binary or structured mode: the Ce-Type
// header names a dev.cdevents type, and the body is a CDEvent of that type with the context
// and subject every CDEvent has. The event type is the Ce-Type.
func validateCDEvent(h http.Header, body []byte) (string, error) {
	ceType := h.Get("Ce-Type")
	if !strings.HasPrefix(ceType, "dev.cdevents.") {
		return "", errors.New("the Ce-Type header does not name a CDEvent type (dev.cdevents.*)")
	}
	var ev struct {
		Context struct {
			Version   string `json:"specversion"`
			ID        string `json:"id"`
			Source    string `json:"source"`
			Type      string `json:"type"`
			Timestamp string `json:"timestamp"`
		} `json:"context"`
		Subject *struct {
			ID string `json:"id"`
		} `json:"subject"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return "", errors.New("the body is not a JSON CDEvent")
	}
	c := ev.Context
	if c.ID == "" || c.Source == "" || c.Type == "" || c.Timestamp == "" || ev.Subject == nil || ev.Subject.ID == "" {
		return "", errors.New("the CDEvent lacks context.id, context.source, context.type, context.timestamp or subject.id")
	}
	if _, err := time.Parse(time.RFC3339Nano, c.Timestamp); err != nil {
		return "", errors.New("the CDEvent's context.timestamp is not RFC 3339")
	}
	if !strings.EqualFold(c.Type, ceType) {
		return "", errors.New("the CDEvent's context.type is not its Ce-Type")
	}
	return ceType, nil
}

// checkSignature checks a '<algorithm>=<hex HMAC of body with token>' header, in constant
// time.
func checkSignature(header string, body []byte, token string) error {
	algo, sig, ok := strings.Cut(header, "=")
	if !ok {
		return errors.New("no signature, or not '<algorithm>=<hex>'")
	}
	var mac hash.Hash
	switch strings.ToLower(algo) {
	case "sha256":
		mac = hmac.New(sha256.New, []byte(token))
	case "sha1":
		mac = hmac.New(sha1.New, []byte(token))
	default:
		return fmt.Errorf("unsupported signature algorithm '%s'", algo)
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return errors.New("the signature is not hexadecimal")
	}
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errors.New("the signature does not match")
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// defaultAPIVersions are those a resource reference may leave out: the source kinds'.
var defaultAPIVersions = map[string]string{
	"GitRepository": "source.toolkit.fluxcd.io/v1", "HelmRepository": "source.toolkit.fluxcd.io/v1",
	"HelmChart": "source.toolkit.fluxcd.io/v1", "Bucket": "source.toolkit.fluxcd.io/v1",
	"OCIRepository": "source.toolkit.fluxcd.io/v1", "ImageRepository": "image.toolkit.fluxcd.io/v1",
	"ArtifactGenerator": "source.extensions.fluxcd.io/v1beta1",
}

// requestReconciles sets reconcile.fluxcd.io/requestedAt on every object the Receiver selects
// (and its filters let through).
func (s *Server) requestReconciles(ctx context.Context, obj *notifyv1.Receiver, payload any, claims map[string]any) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	stamp := now().Format(time.RFC3339Nano)
	var errs []error
	for _, ref := range obj.Spec.Resources {
		ns := ref.Namespace
		if ns == "" {
			ns = obj.Namespace
		}
		if s.NoCrossNamespaceRefs && ns != obj.Namespace {
			return refuse(http.StatusBadRequest, "resource %s/%s/%s is in another namespace (--no-cross-namespace-refs)", ref.Kind, ns, ref.Name)
		}
		apiVersion := ref.APIVersion
		if apiVersion == "" {
			apiVersion = defaultAPIVersions[ref.Kind]
		}
		gv, err := schema.ParseGroupVersion(apiVersion)
		if err != nil || apiVersion == "" {
			errs = append(errs, fmt.Errorf("resource %s/%s: apiVersion '%s' is not valid", ref.Kind, ref.Name, ref.APIVersion))
			continue
		}
		gvk := gv.WithKind(ref.Kind)
		targets, err := s.selected(ctx, gvk, ns, ref)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, t := range targets {
			ok, err := passes(obj.Spec.ResourceFilter, t, payload, claims)
			if err == nil && ok {
				ok, err = passes(ref.Filter, t, payload, claims)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("filtering %s/%s/%s: %w", ref.Kind, t.GetNamespace(), t.GetName(), err))
				continue
			}
			if !ok {
				continue
			}
			patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, meta.ReconcileRequestAnnotation, stamp)
			if err := s.Client.Patch(ctx, t, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
				errs = append(errs, fmt.Errorf("annotating %s/%s/%s: %w", ref.Kind, t.GetNamespace(), t.GetName(), err))
				continue
			}
			s.Log.V(1).Info("reconcile requested", "receiver", obj.Namespace+"/"+obj.Name, "kind", ref.Kind, "object", t.GetNamespace()+"/"+t.GetName())
		}
	}
	return errors.Join(errs...)
}

// selected returns the objects a resource reference names: one by name, or every one of its
// kind in the namespace ('*'), matching its labels.
func (s *Server) selected(ctx context.Context, gvk schema.GroupVersionKind, ns string, ref notifyv1.CrossNamespaceObjectReference) ([]*unstructured.Unstructured, error) {
	if ref.Name != "*" {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		if err := s.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, u); err != nil {
			return nil, fmt.Errorf("reading %s/%s/%s: %w", ref.Kind, ns, ref.Name, err)
		}
		if len(ref.MatchLabels) > 0 && !labels.SelectorFromSet(ref.MatchLabels).Matches(labels.Set(u.GetLabels())) {
			return nil, nil
		}
		return []*unstructured.Unstructured{u}, nil
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := s.Client.List(ctx, list, client.InNamespace(ns), client.MatchingLabels(ref.MatchLabels)); err != nil {
		return nil, fmt.Errorf("listing %s in %s: %w", ref.Kind, ns, err)
	}
	out := make([]*unstructured.Unstructured, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// passes evaluates a filter on an object, the request body and a generic-oidc caller's
// claims; no filter lets it through.
func passes(expr string, obj *unstructured.Unstructured, payload any, claims map[string]any) (bool, error) {
	if expr == "" {
		return true, nil
	}
	p, err := cel.Compile(celVars, expr)
	if err != nil {
		return false, err
	}
	return p.Eval(map[string]any{"res": obj.Object, "req": payload, "claims": claims})
}

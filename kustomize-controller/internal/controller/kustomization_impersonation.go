package controller

import (
	"context"
	"fmt"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
)

// Impersonator makes the clients that act on a Kustomization's behalf.
type Impersonator interface {
	// ClientFor returns a client that acts as the service account (its namespace and name),
	// or as the controller itself when account is the zero value.
	ClientFor(account types.NamespacedName) (client.Client, error)
}

// RESTImpersonator is the Impersonator of the running controller: its own client, or a new
// one whose requests carry Impersonate-User: system:serviceaccount:<namespace>:<name>.
type RESTImpersonator struct {
	// Client is the controller's own client.
	Client client.Client
	Config *rest.Config
	Mapper apimeta.RESTMapper
}

// ClientFor implements Impersonator.
func (i *RESTImpersonator) ClientFor(account types.NamespacedName) (client.Client, error) {
	if account.Name == "" {
		return i.Client, nil
	}
	return client.New(i.configFor(account), client.Options{Scheme: i.Client.Scheme(), Mapper: i.Mapper})
}

// configFor is the REST config of a client acting as account.
func (i *RESTImpersonator) configFor(account types.NamespacedName) *rest.Config {
	cfg := rest.CopyConfig(i.Config)
	if account.Name != "" {
		cfg.Impersonate = rest.ImpersonationConfig{UserName: serviceAccountUser(account)}
	}
	return cfg
}

func serviceAccountUser(account types.NamespacedName) string {
	return "system:serviceaccount:" + account.Namespace + ":" + account.Name
}

// serviceAccount returns the account a Kustomization acts as: spec.serviceAccountName, else
// --default-service-account, in the Kustomization's namespace; the zero value for the
// controller's own identity.
func (r *KustomizationReconciler) serviceAccount(obj *kustomizev1.Kustomization) types.NamespacedName {
	sa := obj.Spec.ServiceAccountName
	if sa == "" {
		sa = r.DefaultServiceAccount
	}
	if sa == "" {
		return types.NamespacedName{}
	}
	return types.NamespacedName{Namespace: obj.Namespace, Name: sa}
}

// reconcileIdentity finds the server-side apply manager that acts with the Kustomization's
// identity, and the reader of everything read on its behalf (dependencies, health checks of
// objects it did not apply, substitution variables, decryption keys). As in Flux, the account
// is impersonated whether or not its ServiceAccount object exists: RBAC decides what it may
// do, and it may read nothing the account may not.
func (r *KustomizationReconciler) reconcileIdentity(_ context.Context, s *kustomizationScope) error {
	account := r.serviceAccount(s.Object)
	m, err := r.resourceManager(account)
	if err != nil {
		return err
	}
	s.resources = m
	s.reader = r.APIReader // the controller's own identity, uncached
	if account.Name != "" {
		s.reader = m.Client() // impersonating, reading from the API server
	}
	return nil
}

// resourceManager returns the server-side apply manager acting as account (the zero value:
// the controller's own identity), made once per account.
func (r *KustomizationReconciler) resourceManager(account types.NamespacedName) (*ssa.ResourceManager, error) {
	key := account.String()
	if m, ok := r.managers.Load(key); ok {
		return m.(*ssa.ResourceManager), nil
	}
	c, err := r.Impersonator.ClientFor(account)
	if err != nil {
		return nil, fmt.Errorf("making a client for %s: %w", serviceAccountUser(account), err)
	}
	m := ssa.NewResourceManager(c, polling.NewStatusPoller(c, r.Mapper, polling.Options{}), ssa.Owner{Field: r.FieldManager, Group: kustomizev1.GroupVersion.Group})
	if r.ConcurrentSSA > 0 {
		m.SetConcurrency(r.ConcurrentSSA)
	}
	actual, _ := r.managers.LoadOrStore(key, m)
	return actual.(*ssa.ResourceManager), nil
}

// explainRefusal adds to an error the API server returned for an impersonated account what
// the user most likely needs to know: that the account does not exist. Other errors, and
// refusals of an account that exists, are returned as they are.
func (r *KustomizationReconciler) explainRefusal(ctx context.Context, obj *kustomizev1.Kustomization, err error) error {
	account := r.serviceAccount(obj)
	if err == nil || account.Name == "" || !apierrors.IsForbidden(err) {
		return err
	}
	if missing, _ := r.serviceAccountMissing(ctx, account); missing {
		return fmt.Errorf("%w (service account '%s' not found: create it, or grant %s the rights in RBAC)", err, account, serviceAccountUser(account))
	}
	return err
}

// serviceAccountMissing reports whether the ServiceAccount object of account does not exist.
func (r *KustomizationReconciler) serviceAccountMissing(ctx context.Context, account types.NamespacedName) (bool, error) {
	err := r.APIReader.Get(ctx, account, &corev1.ServiceAccount{})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return false, err
}

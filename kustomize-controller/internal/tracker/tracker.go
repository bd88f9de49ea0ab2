// Package tracker watches the objects that kustomize-controller applied, and only those: one
// informer per kind, filtered by the owner labels that every applied object carries.
//
// It serves two purposes. Health checks read object status from it and are woken by its
// events instead of polling the API server. Drift detection reads each object's write history
// (UID and managedFields) from it, so that a reconcile where nothing changed in Git and nobody
// wrote to the objects costs no API requests at all.
package tracker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// metadataOnly are the kinds kept as metadata alone: their content can be large or secret,
// and their health does not depend on a status.
var metadataOnly = map[schema.GroupKind]bool{
	{Kind: "ConfigMap"}: true,
	{Kind: "Secret"}:    true,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: true,
}

// MetadataOnly reports whether the tracker keeps only the metadata of a kind.
func MetadataOnly(gk schema.GroupKind) bool { return metadataOnly[gk] }

// Tracker runs label-filtered informers for the kinds it is asked to track.
type Tracker struct {
	dynamic  dynamic.Interface
	metadata metadata.Interface
	mapper   apimeta.RESTMapper
	// nameLabel and namespaceLabel name the owner of an object.
	nameLabel, namespaceLabel string

	mu        sync.Mutex
	ctx       context.Context
	informers map[schema.GroupVersionKind]cache.SharedIndexInformer
	// interested are the owners that want to hear about changes to their objects.
	interested map[types.NamespacedName]bool
	notify     func(types.NamespacedName)
}

// New returns a tracker of the objects labelled with nameLabel. notify is called with the
// owner of an object that changed, when that owner has declared interest.
func New(cfg *rest.Config, mapper apimeta.RESTMapper, nameLabel, namespaceLabel string, notify func(types.NamespacedName)) (*Tracker, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Tracker{
		dynamic: dyn, metadata: md, mapper: mapper,
		nameLabel: nameLabel, namespaceLabel: namespaceLabel,
		informers:  map[schema.GroupVersionKind]cache.SharedIndexInformer{},
		interested: map[types.NamespacedName]bool{},
		notify:     notify,
	}, nil
}

// Start implements manager.Runnable: informers run until ctx ends.
func (t *Tracker) Start(ctx context.Context) error {
	t.mu.Lock()
	t.ctx = ctx
	t.mu.Unlock()
	<-ctx.Done()
	return nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: the tracker is a cache, every
// replica may run it.
func (t *Tracker) NeedLeaderElection() bool { return false }

// Interest declares whether owner wants notifications about its objects (while it waits for
// them to become healthy).
func (t *Tracker) Interest(owner types.NamespacedName, on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if on {
		t.interested[owner] = true
	} else {
		delete(t.interested, owner)
	}
}

// Track starts informers for the kinds not tracked yet. It does not wait for them to sync:
// until they have, Get answers that it does not know.
func (t *Tracker) Track(gvks ...schema.GroupVersionKind) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx == nil {
		return nil // not started: every lookup falls back to the API server
	}
	var errs []error
	for _, gvk := range gvks {
		if _, ok := t.informers[gvk]; ok {
			continue
		}
		mapping, err := t.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			// A kind whose CRD is applied in the same build: tracked next time.
			errs = append(errs, err)
			continue
		}
		tweak := func(o *metav1.ListOptions) { o.LabelSelector = t.nameLabel }
		var inf cache.SharedIndexInformer
		if metadataOnly[gvk.GroupKind()] {
			inf = metadatainformer.NewFilteredMetadataInformer(t.metadata, mapping.Resource, metav1.NamespaceAll, 0, cache.Indexers{}, tweak).Informer()
		} else {
			inf = dynamicinformer.NewFilteredDynamicInformer(t.dynamic, mapping.Resource, metav1.NamespaceAll, 0, cache.Indexers{}, tweak).Informer()
		}
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    t.changed,
			UpdateFunc: func(_, n any) { t.changed(n) },
			DeleteFunc: t.changed,
		}); err != nil {
			errs = append(errs, err)
			continue
		}
		go inf.RunWithContext(t.ctx) // until the manager stops
		t.informers[gvk] = inf
	}
	return errors.Join(errs...)
}

// WaitForSync waits up to timeout for the informers of gvks to have listed their objects.
func (t *Tracker) WaitForSync(ctx context.Context, timeout time.Duration, gvks ...schema.GroupVersionKind) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var synced []cache.InformerSynced
	t.mu.Lock()
	for _, gvk := range gvks {
		if inf, ok := t.informers[gvk]; ok {
			synced = append(synced, inf.HasSynced)
		}
	}
	t.mu.Unlock()
	return cache.WaitForCacheSync(ctx.Done(), synced...)
}

func (t *Tracker) changed(o any) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	obj, err := apimeta.Accessor(o)
	if err != nil {
		return
	}
	l := obj.GetLabels()
	owner := types.NamespacedName{Namespace: l[t.namespaceLabel], Name: l[t.nameLabel]}
	t.mu.Lock()
	interested := t.interested[owner]
	t.mu.Unlock()
	if interested && t.notify != nil {
		t.notify(owner)
	}
}

// Get returns the tracked object of kind gvk named key: a *unstructured.Unstructured, or a
// *metav1.PartialObjectMetadata for the kinds kept as metadata only. known is false when the
// kind is not tracked or its informer has not synced yet; the caller must then ask the API
// server. An object that does not exist is (nil, true).
func (t *Tracker) Get(gvk schema.GroupVersionKind, key types.NamespacedName) (obj metav1.Object, known bool) {
	t.mu.Lock()
	inf, ok := t.informers[gvk]
	t.mu.Unlock()
	if !ok || !inf.HasSynced() {
		return nil, false
	}
	k := key.Name
	if key.Namespace != "" {
		k = key.Namespace + "/" + key.Name
	}
	item, exists, err := inf.GetStore().GetByKey(k)
	if err != nil {
		return nil, false
	}
	if !exists {
		return nil, true
	}
	switch o := item.(type) {
	case *unstructured.Unstructured:
		return o, true
	case *metav1.PartialObjectMetadata:
		return o, true
	}
	return nil, false
}

// Fingerprint summarises an object's write history: its UID and every managedFields entry
// except those of the status subresource. Any write that changes the object's spec or
// metadata changes the fingerprint; a status update (a rollout progressing) does not.
func Fingerprint(obj metav1.Object) string {
	h := sha256.New()
	h.Write([]byte(obj.GetUID()))
	for _, mf := range obj.GetManagedFields() {
		if mf.Subresource == "status" {
			continue
		}
		h.Write([]byte{0})
		h.Write([]byte(mf.Manager + "\x00" + string(mf.Operation) + "\x00" + mf.APIVersion + "\x00" + mf.Subresource + "\x00"))
		if mf.Time != nil {
			h.Write([]byte(mf.Time.UTC().Format(time.RFC3339)))
		}
		if mf.FieldsV1 != nil {
			h.Write(mf.FieldsV1.Raw)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

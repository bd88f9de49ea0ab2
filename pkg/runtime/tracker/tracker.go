// Package tracker watches the objects that a controller applied, and only those: one informer
// per kind, filtered by the owner labels that every applied object carries (a Kustomization's,
// a HelmRelease's).
//
// It serves three purposes. Health checks read object status from it and are woken by its
// events instead of polling the API server. Drift detection reads each object's write history
// (UID and managedFields) from it, so that a reconcile where nothing changed in Git and nobody
// wrote to the objects costs no API requests at all. And it reports drift as it happens: an
// applied object deleted, or a field the controller applied taken over by another writer.
package tracker

import (
	"bytes"
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
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
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
	informers map[schema.GroupVersionKind]*informer
	// interested are the owners that want to hear about changes to their objects.
	interested map[types.NamespacedName]bool
	handlers   Handlers
}

// informer is the informer of one kind.
type informer struct {
	cache.SharedIndexInformer
	stop context.CancelFunc
	// used is when Track last asked for the kind.
	used time.Time
}

// Handlers are called from the informers' goroutines; they must not block.
type Handlers struct {
	// Changed is called with the owner of an object that changed, when that owner has
	// declared interest.
	Changed func(owner types.NamespacedName)
	// Drifted, when set, is called when an object may have drifted from what the field
	// manager applied: it was deleted, or another writer took over fields the manager had
	// applied.
	Drifted func(Drift)
	// FieldManager is the controller's field manager, whose fields Drifted watches.
	FieldManager string
}

// Drift is an object that left the state its owner applied.
type Drift struct {
	Owner   types.NamespacedName
	GVK     schema.GroupVersionKind
	Object  types.NamespacedName
	Deleted bool
	// By is the writer that took fields over, when not Deleted; empty when fields were
	// removed by a writer that left no trace of itself.
	By string
}

// String names the object and what happened to it, for a log line.
func (d Drift) String() string {
	s := d.GVK.Kind + "/" + d.Object.Name
	if d.Object.Namespace != "" {
		s = d.GVK.Kind + "/" + d.Object.Namespace + "/" + d.Object.Name
	}
	return s + " " + d.Cause()
}

// Cause says what happened to the object: deleted, changed by a writer, or fields lost.
func (d Drift) Cause() string {
	switch {
	case d.Deleted:
		return "deleted"
	case d.By == "":
		return "lost applied fields"
	}
	return "changed by " + d.By
}

// New returns a tracker of the objects labelled with nameLabel.
func New(cfg *rest.Config, mapper apimeta.RESTMapper, nameLabel, namespaceLabel string, handlers Handlers) (*Tracker, error) {
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
		informers:  map[schema.GroupVersionKind]*informer{},
		interested: map[types.NamespacedName]bool{},
		handlers:   handlers,
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

// Track starts informers for the kinds not tracked yet, and marks every kind of gvks used
// now (see Release). It does not wait for them to sync: until they have, Get answers that it
// does not know.
func (t *Tracker) Track(gvks ...schema.GroupVersionKind) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx == nil {
		return nil // not started: every lookup falls back to the API server
	}
	now := time.Now()
	var errs []error
	for _, gvk := range gvks {
		if inf, ok := t.informers[gvk]; ok {
			inf.used = now
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
			AddFunc:    func(o any) { t.changed(gvk, nil, o) },
			UpdateFunc: func(o, n any) { t.changed(gvk, o, n) },
			DeleteFunc: func(o any) { t.changed(gvk, o, nil) },
		}); err != nil {
			errs = append(errs, err)
			continue
		}
		ctx, stop := context.WithCancel(t.ctx)
		go inf.RunWithContext(ctx) // until released, or the manager stops
		t.informers[gvk] = &informer{SharedIndexInformer: inf, stop: stop, used: now}
	}
	return errors.Join(errs...)
}

// Release stops the informers of the kinds not in keep that Track has not asked for since
// before: their objects are no longer applied (pruned, or their CRD deleted), and watching
// them costs the API server a watch and the controller a cache. It returns the kinds released.
func (t *Tracker) Release(keep map[schema.GroupVersionKind]bool, before time.Time) []schema.GroupVersionKind {
	t.mu.Lock()
	defer t.mu.Unlock()
	var released []schema.GroupVersionKind
	for gvk, inf := range t.informers {
		if keep[gvk] || !inf.used.Before(before) {
			continue
		}
		inf.stop()
		delete(t.informers, gvk)
		released = append(released, gvk)
	}
	return released
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

// changed handles an informer event: old is nil for an addition, new for a deletion.
func (t *Tracker) changed(gvk schema.GroupVersionKind, old, new any) {
	o := new
	if o == nil {
		o = old
	}
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
	if interested && t.handlers.Changed != nil {
		t.handlers.Changed(owner)
	}
	if t.handlers.Drifted == nil || old == nil {
		return
	}
	d := Drift{Owner: owner, GVK: gvk, Object: types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}}
	if new == nil {
		d.Deleted = true
		t.handlers.Drifted(d)
		return
	}
	before, err := apimeta.Accessor(old)
	if err != nil {
		return
	}
	if by, ok := FieldsTaken(before, obj, t.handlers.FieldManager); ok {
		d.By = by
		t.handlers.Drifted(d)
	}
}

// FieldsTaken reports whether, between before and after, another writer took over or removed
// fields that manager had applied, and names the writer when it can. A write that changes a
// field applied by a manager moves the field to the writer: the manager's apply entry loses
// it (or disappears) and the writer's entry is new or changed. A write that only removes
// applied fields (a JSON patch, an update without them) leaves no entry of its writer: the
// manager's entry just loses them and keeps its time. The manager's own writes change no
// other writer's entry (an apply, or a cleanup that folds other managers' fields into its
// entry), and an apply that leaves fields out moves the entry's time on, unless it lands in
// the same second as the entry's last change: that one is reported too, and its correction
// finds nothing to do.
func FieldsTaken(before, after metav1.Object, manager string) (by string, taken bool) {
	was, now := appliedBy(before, manager), appliedBy(after, manager)
	if was == nil || (now != nil && fieldsEqual(now.FieldsV1, was.FieldsV1)) {
		return "", false
	}
	old := map[string]metav1.ManagedFieldsEntry{}
	for _, mf := range before.GetManagedFields() {
		old[entryKey(mf)] = mf
	}
	for _, mf := range after.GetManagedFields() {
		if mf.Manager == manager || mf.Subresource == "status" {
			continue
		}
		prev, ok := old[entryKey(mf)]
		if !ok || !prev.Time.Equal(mf.Time) || !fieldsEqual(prev.FieldsV1, mf.FieldsV1) {
			return mf.Manager, true
		}
	}
	if now != nil && was.Time != nil && now.Time != nil && was.Time.Equal(now.Time) && subset(now.FieldsV1, was.FieldsV1) {
		return "", true // fields removed by a writer that left no entry
	}
	return "", false
}

// subset reports whether the field set a is contained in b.
func subset(a, b *metav1.FieldsV1) bool {
	if a == nil || b == nil {
		return false
	}
	var as, bs fieldpath.Set
	if as.FromJSON(bytes.NewReader(a.Raw)) != nil || bs.FromJSON(bytes.NewReader(b.Raw)) != nil {
		return false
	}
	return as.Difference(&bs).Empty()
}

func entryKey(mf metav1.ManagedFieldsEntry) string {
	return mf.Manager + "\x00" + string(mf.Operation) + "\x00" + mf.Subresource
}

// appliedBy returns the Apply entry of manager on the object itself (not a subresource).
func appliedBy(obj metav1.Object, manager string) *metav1.ManagedFieldsEntry {
	mfs := obj.GetManagedFields()
	for i := range mfs {
		if mfs[i].Manager == manager && mfs[i].Operation == metav1.ManagedFieldsOperationApply && mfs[i].Subresource == "" {
			return &mfs[i]
		}
	}
	return nil
}

func fieldsEqual(a, b *metav1.FieldsV1) bool {
	if a == nil || b == nil {
		return a == b
	}
	return string(a.Raw) == string(b.Raw)
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

package build

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/resid"

	kustomizev1 "github.com/driftless-dev/driftless/kustomize-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/apis/kustomize"
)

// Options are what a build takes from a Kustomization.
type Options struct {
	// Root is the artifact tree; nothing outside it is read, and nothing in it is written.
	Root string
	// Path is spec.path, relative to Root.
	Path string

	TargetNamespace         string
	NamePrefix, NameSuffix  string
	Patches                 []kustomize.Patch
	Images                  []kustomize.Image
	Components              []string
	IgnoreMissingComponents bool
	CommonMetadata          *kustomizev1.CommonMetadata
	BuildMetadata           []kustomizev1.BuildMetadataOption
	// Decrypt, when set, decrypts SOPS-encrypted files as the build reads them, and built
	// objects that are still encrypted. Without it, an encrypted object fails the build.
	Decrypt Decryptor
	// PostBuild, when set, substitutes variables in the built objects.
	PostBuild *Substitution
	// AllowRemote lets kustomizations name remote bases, components and files (Git
	// repositories and http(s) URLs), which kustomize fetches with no timeout and no size
	// limit. Refused by default (--no-remote-bases).
	AllowRemote bool

	// Name and Namespace of the Kustomization, set as owner labels on every object.
	Name, Namespace string
}

// Decryptor decrypts SOPS-encrypted documents; what is not one is returned as it is.
type Decryptor interface {
	// File decrypts a file of the artifact (path relative to its root) in the format its
	// extension names.
	File(path string, data []byte) ([]byte, error)
	// Object decrypts a built object, as JSON; name names it in errors.
	Object(name string, data []byte) ([]byte, error)
}

// ErrInvalidPath marks a spec.path that leaves the artifact or does not exist.
var ErrInvalidPath = errors.New("invalid path")

// Build runs kustomize for o and returns the objects, each labelled with the Kustomization's
// name and namespace.
func Build(o Options) ([]*unstructured.Unstructured, error) {
	rel := path.Clean("/" + filepath.ToSlash(o.Path))
	if clean := path.Clean(filepath.ToSlash(o.Path)); clean == ".." || strings.HasPrefix(clean, "../") || path.IsAbs(o.Path) {
		return nil, fmt.Errorf("%w: spec.path '%s' leaves the artifact root", ErrInvalidPath, o.Path)
	}
	if o.PostBuild.enabled() {
		if err := o.PostBuild.validate(); err != nil {
			return nil, err
		}
	}
	fsys, err := newConfinedFS(o.Root)
	if err != nil {
		return nil, err
	}
	fsys.decrypt = o.Decrypt
	fsys.allowRemote = o.AllowRemote
	dir, err := fsys.confine(filepath.Join(fsys.root, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	if !fsys.IsDir(dir) {
		return nil, fmt.Errorf("%w: spec.path '%s' is not a directory in the artifact", ErrInvalidPath, o.Path)
	}
	if err := generateKustomization(fsys, dir); err != nil {
		return nil, err
	}
	var overlayPaths *regexp.Regexp // of the build metadata: see relativizeBuildMetadata
	if len(o.BuildMetadata) > 0 {
		overlayPaths = regexp.MustCompile(`\.\./` + regexp.QuoteMeta(filepath.Base(fsys.root)) + `/([^\s"']*)`)
	}
	var objects []*unstructured.Unstructured
	// convert turns kustomize's objects into the controller's, a shard at a time: kustomize's
	// YAML trees of one shard are garbage before the next shard is built.
	convert := func(built []builtObject) error {
		for _, b := range built {
			u, err := o.object(b, overlayPaths, rel)
			if err != nil {
				return err
			}
			objects = append(objects, u)
		}
		return nil
	}
	groups, err := shards(fsys, dir, o)
	if err != nil {
		return nil, err
	}
	if len(groups) > 1 {
		if err := buildShards(fsys, groups, o, convert); err != nil {
			return nil, err
		}
		return objects, nil
	}
	target := dir
	if o.hasOverrides() {
		if target, err = writeOverlay(fsys, dir, o); err != nil {
			return nil, err
		}
	}
	resources, err := kustomizeBuild(fsys, target)
	if err != nil {
		return nil, err
	}
	built, err := builtObjects(resources)
	if err != nil {
		return nil, err
	}
	objects = make([]*unstructured.Unstructured, 0, len(built))
	if err := convert(built); err != nil {
		return nil, err
	}
	return objects, nil
}

// builtObject is an object as kustomize built it, in JSON.
type builtObject struct {
	id   resid.ResId
	json []byte
}

// builtObjects turns kustomize's objects into JSON.
func builtObjects(resources []*resource.Resource) ([]builtObject, error) {
	out := make([]builtObject, len(resources))
	for i, r := range resources {
		data, err := objectJSON(r)
		if err != nil {
			return nil, err
		}
		out[i] = builtObject{id: r.CurId(), json: data}
	}
	return out, nil
}

// object is the built object b as the controller applies it: decrypted, substituted, with
// build metadata relative to spec.path (rel) and the owner labels.
func (o Options) object(b builtObject, overlayPaths *regexp.Regexp, rel string) (*unstructured.Unstructured, error) {
	data := b.json
	if o.Decrypt != nil {
		var err error
		if data, err = o.Decrypt.Object(resourceName(b.id.Kind, b.id.Namespace, b.id.Name), data); err != nil {
			return nil, err
		}
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", b.id, err)
	}
	if encrypted(u) {
		// Its ciphertext must never reach the cluster as if it were the value.
		if o.Decrypt == nil {
			return nil, fmt.Errorf("%s is encrypted with SOPS and spec.decryption is not set", objectName(u))
		}
		return nil, fmt.Errorf("%s carries SOPS metadata that cannot be read", objectName(u))
	}
	if o.PostBuild.enabled() {
		if err := o.PostBuild.apply(u); err != nil {
			return nil, err
		}
	}
	if overlayPaths != nil {
		relativizeBuildMetadata(u, overlayPaths, rel)
	}
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[kustomizev1.NameLabel] = o.Name
	labels[kustomizev1.NamespaceLabel] = o.Namespace
	u.SetLabels(labels)
	return u, nil
}

// objectJSON is r as JSON, as r.MarshalJSON makes it but without its detour through YAML
// text (it prints the tree and parses it again), a third of a big build's time.
func objectJSON(r *resource.Resource) ([]byte, error) {
	var m map[string]any
	if err := r.YNode().Decode(&m); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// kustomizeBuild runs kustomize on the kustomization in dir.
func kustomizeBuild(fsys *confinedFS, dir string) ([]*resource.Resource, error) {
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsNone // the file system confines reads to the root
	opts.PluginConfig = types.DisabledPluginConfig()
	resources, err := krusty.MakeKustomizer(opts).Run(fsys, dir)
	switch {
	case err != nil && fsys.decryptErr != nil:
		return nil, fsys.decryptErr
	case err != nil && fsys.refused != nil:
		return nil, fsys.refused
	case err != nil:
		// Show paths relative to the artifact, not the controller's directories.
		msg := strings.ReplaceAll(err.Error(), fsys.root+string(os.PathSeparator), "")
		return nil, fmt.Errorf("kustomize build failed: %s", msg)
	}
	return resources.Resources(), nil
}

func (o Options) hasOverrides() bool {
	return o.TargetNamespace != "" || o.NamePrefix != "" || o.NameSuffix != "" || len(o.Patches) > 0 ||
		len(o.Images) > 0 || len(o.Components) > 0 || o.CommonMetadata != nil || len(o.BuildMetadata) > 0
}

// hasKustomization reports whether dir holds a kustomization file.
func hasKustomization(fsys *confinedFS, dir string) bool {
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		if fsys.Exists(filepath.Join(dir, name)) {
			return true
		}
	}
	return false
}

// generateKustomization writes, in memory, a kustomization.yaml for a directory that has
// none, as Flux does: every manifest file below it, and every subdirectory that has its own
// kustomization as a whole.
func generateKustomization(fsys *confinedFS, dir string) error {
	if hasKustomization(fsys, dir) {
		return nil
	}
	var resources []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if _, err := fsys.confine(p); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if hasKustomization(fsys, p) {
				resources = append(resources, rel)
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			if d.Type().IsRegular() {
				resources = append(resources, rel)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("generating kustomization.yaml: %w", err)
	}
	sort.Strings(resources)
	k := types.Kustomization{TypeMeta: types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind}, Resources: resources}
	return writeKustomization(fsys, dir, &k)
}

// writeOverlay writes, in memory, a kustomization over dir that applies the overrides, and
// returns its directory.
func writeOverlay(fsys *confinedFS, dir string, o Options) (string, error) {
	rel, err := filepath.Rel(fsys.overlay, dir)
	if err != nil {
		return "", err
	}
	k := overrides(o)
	k.Resources = []string{filepath.ToSlash(rel)}
	for _, c := range o.Components {
		if o.IgnoreMissingComponents && !fsys.IsDir(filepath.Join(dir, filepath.FromSlash(c))) {
			continue
		}
		k.Components = append(k.Components, path.Join(filepath.ToSlash(rel), c))
	}
	return fsys.overlay, writeKustomization(fsys, fsys.overlay, &k)
}

// overrides is a kustomization of the Kustomization's overrides, without resources.
func overrides(o Options) types.Kustomization {
	k := types.Kustomization{
		TypeMeta:   types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind},
		Namespace:  o.TargetNamespace,
		NamePrefix: o.NamePrefix,
		NameSuffix: o.NameSuffix,
	}
	for _, p := range o.Patches {
		patch := types.Patch{Patch: p.Patch}
		if p.Target != nil {
			patch.Target = &types.Selector{
				ResId:              resIDSelector(p.Target),
				AnnotationSelector: p.Target.AnnotationSelector,
				LabelSelector:      p.Target.LabelSelector,
			}
		}
		k.Patches = append(k.Patches, patch)
	}
	for _, img := range o.Images {
		k.Images = append(k.Images, types.Image{Name: img.Name, NewName: img.NewName, NewTag: img.NewTag, Digest: img.Digest})
	}
	if m := o.CommonMetadata; m != nil {
		if len(m.Labels) > 0 {
			k.Labels = []types.Label{{Pairs: m.Labels, IncludeSelectors: false}}
		}
		k.CommonAnnotations = m.Annotations
	}
	for _, m := range o.BuildMetadata {
		k.BuildMetadata = append(k.BuildMetadata, string(m))
	}
	return k
}

// writeKustomization writes k in memory as dir's kustomization.yaml, in JSON (which is YAML):
// a shard writes one, and converting to YAML text costs more than the shard's build.
func writeKustomization(fsys *confinedFS, dir string, k *types.Kustomization) error {
	data, err := json.Marshal(k)
	if err != nil {
		return err
	}
	return fsys.WriteFile(filepath.Join(dir, konfig.DefaultKustomizationFileName()), data)
}

func resIDSelector(s *kustomize.Selector) resid.ResId {
	return resid.ResId{Gvk: resid.Gvk{Group: s.Group, Version: s.Version, Kind: s.Kind}, Name: s.Name, Namespace: s.Namespace}
}

// encrypted reports whether u is a SOPS-encrypted document: it carries sops metadata with a
// message authentication code.
func encrypted(u *unstructured.Unstructured) bool {
	m, ok := u.Object["sops"].(map[string]any)
	return ok && m["mac"] != nil
}

// buildMetadataAnnotations are the annotations kustomize's buildMetadata options write.
var buildMetadataAnnotations = []string{"config.kubernetes.io/origin", "alpha.config.kubernetes.io/transformations"}

// relativizeBuildMetadata rewrites the paths in an object's build metadata, which kustomize
// writes relative to the overlay beside the artifact root ('../<root>/apps/base/x.yaml', the
// paths prefix matches), to be relative to spec.path, as if the options had been set in
// spec.path's kustomization.yaml (as Flux does): no directory of the controller shows.
func relativizeBuildMetadata(u *unstructured.Unstructured, prefix *regexp.Regexp, specPath string) {
	annotations := u.GetAnnotations()
	from := strings.TrimPrefix(specPath, "/")
	for _, k := range buildMetadataAnnotations {
		v, ok := annotations[k]
		if !ok {
			continue
		}
		annotations[k] = prefix.ReplaceAllStringFunc(v, func(m string) string {
			target := prefix.FindStringSubmatch(m)[1]
			r, err := filepath.Rel(filepath.FromSlash("/"+from), filepath.FromSlash("/"+target))
			if err != nil {
				return target
			}
			return filepath.ToSlash(r)
		})
	}
	u.SetAnnotations(annotations)
}

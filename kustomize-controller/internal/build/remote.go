package build

import (
	"fmt"
	"regexp"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// ErrRemoteReference marks a kustomization entry that would make kustomize fetch from the
// network: a remote base, component or resource (Git or HTTP), or a remote file.
var ErrRemoteReference = fmt.Errorf("remote references are not allowed (--no-remote-bases)")

// A kustomization can make kustomize open a connection in two ways, both of which bypass the
// confined file system: an entry naming a Git repository is cloned (by running git), and a file
// named by an http(s) URL is downloaded, without a timeout or a size limit. Every
// kustomization file kustomize reads passes through confinedFS.ReadFile, which refuses one
// with such an entry before kustomize sees it.

// userPrefix is kustomize's SCP-style user ('git@github.com:org/repo').
var userPrefix = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@`)

// isRemote reports whether kustomize would fetch ref from the network: a URL of any scheme
// (kustomize clones ssh, https, http and file URLs and downloads http(s) files), anything
// after the 'git::' prefix, an SCP-style 'user@host:path', or a 'github.com/' shorthand. It
// errs on the side of refusing: every form kustomize treats as remote is remote here.
func isRemote(ref string) bool {
	s := strings.ToLower(strings.TrimSpace(ref))
	if strings.HasPrefix(s, "git::") {
		return true
	}
	return strings.Contains(s, "://") || userPrefix.MatchString(s) ||
		strings.HasPrefix(s, "github.com/") || strings.HasPrefix(s, "github.com:")
}

// isKustomizationFile reports whether a file name is one kustomize reads as a kustomization.
func isKustomizationFile(name string) bool {
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		if name == n {
			return true
		}
	}
	return false
}

// remoteReference is an entry of a kustomization that names something remote.
type remoteReference struct {
	field, ref string
}

// remoteReferences returns the entries of a kustomization file that would make kustomize
// fetch from the network: in resources, components and bases, CRD, configuration, generator,
// transformer and validator files, patch files, replacement files, the OpenAPI schema, and
// the files and env files of ConfigMap and Secret generators. A file that does not parse is
// an error: kustomize parses the same way, more strictly (no unknown fields), so it would
// fail too, and no entry is left unchecked.
func remoteReferences(data []byte) ([]remoteReference, error) {
	var k types.Kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("invalid Kustomization: %w", err)
	}
	var out []remoteReference
	check := func(field string, refs ...string) {
		for _, r := range refs {
			// An inline document (a patch or a transformer's configuration) is not a
			// reference; a reference is one line.
			if !strings.Contains(r, "\n") && isRemote(r) {
				out = append(out, remoteReference{field: field, ref: r})
			}
		}
	}
	check("resources", k.Resources...)
	check("bases", k.Bases...)
	check("components", k.Components...)
	check("crds", k.Crds...)
	check("configurations", k.Configurations...)
	check("generators", k.Generators...)
	check("transformers", k.Transformers...)
	check("validators", k.Validators...)
	for _, p := range k.PatchesStrategicMerge {
		check("patchesStrategicMerge", string(p))
	}
	for _, p := range k.Patches {
		check("patches.path", p.Path)
	}
	for _, p := range k.PatchesJson6902 {
		check("patchesJson6902.path", p.Path)
	}
	for _, r := range k.Replacements {
		check("replacements.path", r.Path)
	}
	check("openapi.path", k.OpenAPI["path"])
	generators := func(field string, args []types.GeneratorArgs) {
		for _, a := range args {
			for _, f := range a.FileSources {
				// 'key=path' or 'path'.
				if _, p, ok := strings.Cut(f, "="); ok {
					f = p
				}
				check(field+".files", f)
			}
			check(field+".envs", a.EnvSources...)
			check(field+".env", a.EnvSource)
		}
	}
	var cms, secrets []types.GeneratorArgs
	for _, g := range k.ConfigMapGenerator {
		cms = append(cms, g.GeneratorArgs)
	}
	for _, g := range k.SecretGenerator {
		secrets = append(secrets, g.GeneratorArgs)
	}
	generators("configMapGenerator", cms)
	generators("secretGenerator", secrets)
	return out, nil
}

// refuseRemote returns an error naming the first remote entry of the kustomization file at
// rel, or nil.
func refuseRemote(rel string, data []byte) error {
	refs, err := remoteReferences(data)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	if len(refs) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s entry '%s': %w", rel, refs[0].field, refs[0].ref, ErrRemoteReference)
}

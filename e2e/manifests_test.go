package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/driftless-dev/driftless/pkg/testenv"
)

// installManifests builds manifests/ with the kustomize API, as `kubectl apply -k` does.
func installManifests(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(root, "manifests"))
	if err != nil {
		t.Fatalf("kustomize build manifests/: %v", err)
	}
	var objects []*unstructured.Unstructured
	for _, r := range resMap.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(data); err != nil {
			t.Fatal(err)
		}
		objects = append(objects, u)
	}
	return objects
}

// TestManifestsInstall checks what `kubectl apply -k manifests/` installs, then applies it to
// the test control plane: every object must be accepted.
func TestManifestsInstall(t *testing.T) {
	objects := installManifests(t)
	byKind := map[string][]*unstructured.Unstructured{}
	for _, o := range objects {
		byKind[o.GetKind()] = append(byKind[o.GetKind()], o)
		if o.GetLabels()["app.kubernetes.io/part-of"] != "flux" {
			t.Errorf("%s/%s lacks app.kubernetes.io/part-of: flux", o.GetKind(), o.GetName())
		}
		switch o.GetKind() {
		case "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "Namespace":
		default:
			if o.GetNamespace() != "flux-system" {
				t.Errorf("%s/%s is in namespace %q, not flux-system", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		}
	}
	if n := len(byKind["CustomResourceDefinition"]); n != 11 {
		t.Errorf("%d CRDs, want 11 (Flux 2.9 installs ExternalArtifact too)", n)
	}
	if n := len(byKind["NetworkPolicy"]); n != 3 {
		t.Errorf("%d NetworkPolicies, want 3", n)
	}

	bin, err := buildControllers()
	if err != nil {
		t.Fatal(err)
	}
	deployments := map[string]*appsv1.Deployment{}
	for _, u := range byKind["Deployment"] {
		d := &appsv1.Deployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, d); err != nil {
			t.Fatal(err)
		}
		deployments[d.Name] = d
		checkDeployment(t, d, bin)
	}
	for _, c := range controllers {
		if deployments[c] == nil {
			t.Errorf("no Deployment %s", c)
		}
		checkDockerfile(t, c)
	}
	services := map[string]string{"source-controller": "http", "notification-controller": "http", "webhook-receiver": "http-webhook"}
	for _, u := range byKind["Service"] {
		svc := &corev1.Service{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, svc); err != nil {
			t.Fatal(err)
		}
		want, ok := services[svc.Name]
		if !ok {
			t.Errorf("unexpected Service %s", svc.Name)
			continue
		}
		delete(services, svc.Name)
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].TargetPort.StrVal != want {
			t.Errorf("Service %s ports = %+v, want 80 → %s", svc.Name, svc.Spec.Ports, want)
		}
		// The target port is a named port of the selected controller.
		d := deployments[svc.Spec.Selector["app"]]
		if d == nil || !slices.ContainsFunc(d.Spec.Template.Spec.Containers[0].Ports, func(p corev1.ContainerPort) bool { return p.Name == want }) {
			t.Errorf("Service %s selects %v, which has no port %s", svc.Name, svc.Spec.Selector, want)
		}
	}
	for name := range services {
		t.Errorf("no Service %s", name)
	}

	// Apply everything, cluster definitions first, as kubectl apply -k would.
	ctx := testenv.Context(t)
	slices.SortStableFunc(objects, func(a, b *unstructured.Unstructured) int { return installOrder(a) - installOrder(b) })
	for _, o := range objects {
		if err := env.Client.Patch(ctx, o.DeepCopy(), client.Apply, client.FieldOwner("kubectl"), client.ForceOwnership); err != nil {
			t.Errorf("%s/%s refused: %v", o.GetKind(), o.GetName(), err)
		}
	}
	for _, o := range objects {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(o.GroupVersionKind())
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(o), got); err != nil {
			t.Errorf("%s/%s not installed: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

func installOrder(o *unstructured.Unstructured) int {
	switch o.GetKind() {
	case "Namespace", "CustomResourceDefinition":
		return 0
	case "ServiceAccount", "ClusterRole", "Role":
		return 1
	default:
		return 2
	}
}

// checkDeployment holds a controller's Deployment to what a cluster operator expects, and
// runs the binary with the Deployment's arguments to prove it accepts every flag.
func checkDeployment(t *testing.T, d *appsv1.Deployment, bin string) {
	t.Helper()
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 || spec.Containers[0].Name != "manager" {
		t.Errorf("%s: want one container named manager", d.Name)
		return
	}
	c := spec.Containers[0]
	if spec.ServiceAccountName != d.Name {
		t.Errorf("%s: service account %q", d.Name, spec.ServiceAccountName)
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "RUNTIME_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
	}) {
		t.Errorf("%s: RUNTIME_NAMESPACE is not the pod's namespace", d.Name)
	}
	for probe, path := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.StrVal != "healthz" {
			t.Errorf("%s: want a probe on healthz %s, got %+v", d.Name, path, probe)
		}
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() || c.Resources.Limits.Cpu().IsZero() {
		t.Errorf("%s: resources = %+v", d.Name, c.Resources)
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: container security context = %+v", d.Name, sc)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/tmp" }) {
		t.Errorf("%s: no writable /tmp under a read-only root filesystem", d.Name)
	}
	wantEvents := d.Name != "notification-controller"
	if got := slices.ContainsFunc(c.Args, func(a string) bool {
		return strings.HasPrefix(a, "--events-addr=http://notification-controller.")
	}); got != wantEvents {
		t.Errorf("%s: --events-addr to notification-controller = %v, want %v (args %v)", d.Name, got, wantEvents, c.Args)
	}
	cmd := exec.Command(filepath.Join(bin, d.Name), append(slices.Clone(c.Args), "--help")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s refuses its Deployment's arguments %v: %v\n%s", d.Name, c.Args, err, out)
	}
}

// checkDockerfile reads a controller's Dockerfile: it builds that controller statically and
// runs it as a non-root user on a minimal base.
func checkDockerfile(t *testing.T, name string) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, name, "Dockerfile"))
	if err != nil {
		t.Errorf("no Dockerfile for %s: %v", name, err)
		return
	}
	df := string(data)
	for _, want := range []string{
		"CGO_ENABLED=0 go build", "./" + name + "\n",
		"FROM gcr.io/distroless/static:nonroot", "USER 65532:65532", `ENTRYPOINT ["/manager"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("%s/Dockerfile lacks %q", name, want)
		}
	}
	if last := strings.LastIndex(df, "FROM "); !strings.HasPrefix(df[last:], "FROM gcr.io/distroless/static:nonroot") {
		t.Errorf("%s/Dockerfile: the final stage is not the distroless base", name)
	}
}

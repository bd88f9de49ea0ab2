package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	notifyv1 "github.com/driftless-dev/driftless/notification-controller/api/v1"
	notifyv1beta3 "github.com/driftless-dev/driftless/notification-controller/api/v1beta3"
	"github.com/driftless-dev/driftless/pkg/testenv"
)

// fluxCLI is Flux's own CLI, which `make test` builds into bin/ (make flux).
func fluxCLI(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DRIFTLESS_BIN_DIR")
	if dir == "" {
		root, err := testenv.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "bin")
	}
	path := filepath.Join(dir, "flux")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Flux's CLI is not in %s: `make flux` builds it (make test does first)", dir)
	}
	return path
}

// flux runs the flux CLI against the test cluster and returns its output; it fails the test
// when the command does.
func flux(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, fluxCLI(t), append(args, "--kubeconfig="+env.Kubeconfig, "--timeout=1m")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("flux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Flux's CLI manages Driftless's notifications as it manages Flux's: create, get, suspend
// and resume Providers, Alerts and Receivers, each waiting for what Flux's controller reports.
func TestFluxCLIManagesNotifications(t *testing.T) {
	ns := "flux-cli-notify"
	createNamespace(t, ns)
	startBinary(t, t, "notification-controller", "--events-addr="+freeAddr(t), "--receiverAddr="+freeAddr(t))
	ctx := testenv.Context(t)

	out := flux(t, "create", "alert-provider", "slack", "--type=slack", "--channel=deploys", "--address=http://127.0.0.1:1/services/x", "-n", ns)
	if !strings.Contains(out, "Provider slack is ready") {
		t.Errorf("create alert-provider:\n%s", out)
	}
	out = flux(t, "create", "alert", "team", "--provider-ref=slack", "--event-source=Kustomization/*", "--event-source=GitRepository/app", "--event-severity=error", "-n", ns)
	if !strings.Contains(out, "Alert team is ready") {
		t.Errorf("create alert:\n%s", out)
	}
	alert := &notifyv1beta3.Alert{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "team"}, alert); err != nil {
		t.Fatal(err)
	}
	if alert.Spec.ProviderRef.Name != "slack" || alert.Spec.EventSeverity != "error" || len(alert.Spec.EventSources) != 2 || alert.Spec.EventSources[0].Name != "*" {
		t.Errorf("the Alert the CLI created: %+v", alert.Spec)
	}

	const token = "cli-webhook-token"
	if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gh-token"}, StringData: map[string]string{"token": token}}); err != nil {
		t.Fatal(err)
	}
	out = flux(t, "create", "receiver", "github", "--type=github", "--event=ping", "--event=push", "--secret-ref=gh-token", "--resource=GitRepository/app", "-n", ns)
	path := fmt.Sprintf("/hook/%x", sha256.Sum256([]byte(token+"github"+ns)))
	if !strings.Contains(out, "Receiver github is ready") || !strings.Contains(out, "generated webhook URL "+path) {
		t.Errorf("create receiver (want the path %s):\n%s", path, out)
	}

	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"get", "alert-providers", "-n", ns}, []string{"slack", "True"}},
		{[]string{"get", "alerts", "-n", ns}, []string{"team", "False"}},
		{[]string{"get", "receivers", "-n", ns}, []string{"github", "Receiver initialized for path: " + path}},
	} {
		out := flux(t, c.args...)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("flux %s: no %q in\n%s", strings.Join(c.args, " "), w, out)
			}
		}
	}

	flux(t, "suspend", "alert", "team", "-n", ns)
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "team"}, alert); err != nil || !alert.Spec.Suspend {
		t.Errorf("suspend alert: suspend=%v, %v", alert.Spec.Suspend, err)
	}
	if out := flux(t, "get", "alerts", "-n", ns); !strings.Contains(out, "team\tTrue") {
		t.Errorf("get alerts after suspend:\n%s", out)
	}
	flux(t, "resume", "alert", "team", "-n", ns)
	flux(t, "suspend", "receiver", "github", "-n", ns)
	receiver := &notifyv1.Receiver{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "github"}, receiver); err != nil || !receiver.Spec.Suspend {
		t.Errorf("suspend receiver: suspend=%v, %v", receiver.Spec.Suspend, err)
	}
	out = flux(t, "resume", "receiver", "github", "-n", ns)
	if !strings.Contains(out, "Receiver github reconciliation completed") {
		t.Errorf("resume receiver:\n%s", out)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "team"}, alert); err != nil || alert.Spec.Suspend {
		t.Errorf("resume alert: suspend=%v, %v", alert.Spec.Suspend, err)
	}
}

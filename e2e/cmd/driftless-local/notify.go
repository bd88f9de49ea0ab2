package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	notifyv1 "github.com/driftless-dev/driftless/notification-controller/api/v1"
	notifyv1beta3 "github.com/driftless-dev/driftless/notification-controller/api/v1beta3"
	"github.com/driftless-dev/driftless/pkg/apis/event"
	"github.com/driftless-dev/driftless/pkg/apis/meta"
)

// alertSink is the demo Alert's destination: a generic webhook on 127.0.0.1 that prints each
// event it gets and appends it to logs/alerts.log.
type alertSink struct {
	srv *http.Server
	url string
	mu  sync.Mutex
	log *os.File
}

func startAlertSink(stateDir string) (*alertSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(stateDir, "logs", "alerts.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &alertSink{url: "http://" + ln.Addr().String() + "/", log: f}
	s.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(s.serve)}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *alertSink) serve(w http.ResponseWriter, r *http.Request) {
	var ev event.Event
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&ev); err != nil {
		http.Error(w, "not an event", http.StatusBadRequest)
		return
	}
	line := fmt.Sprintf("alert: %s/%s %s %s: %s", strings.ToLower(ev.InvolvedObject.Kind), ev.InvolvedObject.Name, ev.Severity, ev.Reason, firstLine(ev.Message))
	s.mu.Lock()
	fmt.Println("  " + line)
	fmt.Fprintf(s.log, "%s %s\n", time.Now().Format(time.RFC3339), line)
	s.mu.Unlock()
}

func firstLine(s string) string {
	line, rest, _ := strings.Cut(s, "\n")
	if rest != "" {
		line += " …"
	}
	return line
}

func (s *alertSink) stop() {
	_ = s.srv.Close()
	_ = s.log.Close()
}

// webhookToken is the demo Receiver's token, made on the first run and kept in the state
// directory.
func webhookToken(stateDir string) (string, error) {
	path := filepath.Join(stateDir, "webhook-token")
	if data, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(data)) > 0 {
		return string(bytes.TrimSpace(data)), nil
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b)
	return token, os.WriteFile(path, []byte(token+"\n"), 0o600)
}

// notifications wires the demo to notification-controller: a GitHub Receiver for the
// GitRepository, announced to by the demo repository's post-receive hook, and an Alert for
// every demo object's events to the sink. It returns the webhook's URL.
func (d *demo) notifications(ctx context.Context, c client.Client, stateDir, binDir, receiverAddr, sinkURL string) (string, error) {
	token, err := webhookToken(stateDir)
	if err != nil {
		return "", err
	}
	objects := []client.Object{
		&corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Name: "demo-webhook", Namespace: "default"},
			StringData: map[string]string{"token": token},
		},
		&notifyv1.Receiver{
			TypeMeta:   metav1.TypeMeta{APIVersion: notifyv1.GroupVersion.String(), Kind: "Receiver"},
			ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "default"},
			Spec: notifyv1.ReceiverSpec{
				Type: notifyv1.GitHubReceiver, Events: []string{"push"},
				SecretRef: &meta.LocalObjectReference{Name: "demo-webhook"},
				Resources: []notifyv1.CrossNamespaceObjectReference{{Kind: "GitRepository", Name: "demo"}},
			},
		},
		&notifyv1beta3.Provider{
			TypeMeta:   metav1.TypeMeta{APIVersion: notifyv1beta3.GroupVersion.String(), Kind: notifyv1beta3.ProviderKind},
			ObjectMeta: metav1.ObjectMeta{Name: "demo-sink", Namespace: "default"},
			Spec:       notifyv1beta3.ProviderSpec{Type: notifyv1beta3.GenericProvider, Address: sinkURL},
		},
		&notifyv1beta3.Alert{
			TypeMeta:   metav1.TypeMeta{APIVersion: notifyv1beta3.GroupVersion.String(), Kind: "Alert"},
			ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "default"},
			Spec: notifyv1beta3.AlertSpec{
				ProviderRef: meta.LocalObjectReference{Name: "demo-sink"},
				EventSources: []notifyv1beta3.CrossNamespaceObjectReference{
					{Kind: "GitRepository", Name: "demo"}, {Kind: "Kustomization", Name: "*"},
				},
			},
		},
	}
	for _, o := range objects {
		if err := c.Patch(ctx, o, client.Apply, client.FieldOwner("driftless-local"), client.ForceOwnership); err != nil {
			return "", fmt.Errorf("applying %s: %w", o.GetName(), err)
		}
	}
	receiver := &notifyv1.Receiver{}
	deadline := time.Now().Add(time.Minute)
	for {
		if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "demo"}, receiver); err == nil && receiver.Status.WebhookPath != "" {
			break
		}
		if time.Now().After(deadline) {
			return "", errors.New("the demo Receiver got no webhook path in a minute: see logs/notification-controller.log")
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	hookURL := "http://" + receiverAddr + receiver.Status.WebhookPath
	return hookURL, d.installHook(binDir, stateDir, hookURL)
}

// installHook makes the served repository announce each push as GitHub does: its
// post-receive hook runs `driftless-local notify-push`, which posts a signed push webhook.
// The Receiver's address changes from one run to the next, so the hook is written each run.
func (d *demo) installHook(binDir, stateDir, hookURL string) error {
	bin, err := filepath.Abs(filepath.Join(binDir, "driftless-local"))
	if err != nil {
		return err
	}
	tokenFile, err := filepath.Abs(filepath.Join(stateDir, "webhook-token"))
	if err != nil {
		return err
	}
	script := fmt.Sprintf("#!/bin/sh\n# Written by driftless-local: announce the push to the demo Receiver, as GitHub would.\nexec %q notify-push --url %q --token-file %q\n", bin, hookURL, tokenFile)
	hooks := filepath.Join(d.gitRoot, "demo.git", "hooks")
	if err := os.MkdirAll(hooks, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(hooks, "post-receive"), []byte(script), 0o755)
}

// notifyPush is the post-receive hook: for each "<old> <new> <ref>" line on stdin, a GitHub
// push event signed with the token.
func notifyPush(args []string) error {
	fs := flag.NewFlagSet("notify-push", flag.ContinueOnError)
	url := fs.String("url", "", "the Receiver's webhook URL")
	tokenFile := fs.String("token-file", "", "the file holding the Receiver's token")
	if err := fs.Parse(args); err != nil {
		return err
	}
	token, err := os.ReadFile(*tokenFile)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		code, err := postPush(*url, bytes.TrimSpace(token), f[0], f[1], f[2])
		if err != nil {
			fmt.Fprintf(os.Stderr, "driftless: the Receiver could not be reached (%v); the GitRepository's interval will pick up %s\n", err, f[2])
			continue
		}
		fmt.Fprintf(os.Stderr, "driftless: announced %s to the demo Receiver (%d)\n", f[2], code)
	}
	return sc.Err()
}

func postPush(url string, token []byte, before, after, ref string) (int, error) {
	body, err := json.Marshal(map[string]any{
		"ref": ref, "before": before, "after": after,
		"repository": map[string]any{"name": "demo", "full_name": "local/demo"},
	})
	if err != nil {
		return 0, err
	}
	mac := hmac.New(sha256.New, token)
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

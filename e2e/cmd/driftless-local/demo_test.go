package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The commit that make run prints works on a machine where git knows no committer, and a
// second run reuses the repository and its history.
func TestDemoCommitWorksWithoutAGitIdentity(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	for _, v := range []string{"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	if out, err := exec.Command("git", "config", "--get", "user.email").Output(); err == nil {
		t.Fatalf("the test still sees a git identity: %s", out)
	}

	state := t.TempDir()
	d, err := startDemo(state)
	if err != nil {
		t.Fatal(err)
	}
	n := d.replicas()
	deployment := filepath.Join(d.workdir, "apps/demo/base/deployment.yaml")
	data, err := os.ReadFile(deployment)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(data), "replicas: 1\n", "replicas: 2\n", 1)
	if n != 1 || changed == string(data) {
		t.Fatalf("the demo does not start with 1 replica (read %d)", n)
	}
	if err := os.WriteFile(deployment, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	// As printed: git commit -qam ... && git push -q origin main
	for _, args := range [][]string{{"commit", "-qam", "2 replicas"}, {"push", "-q", "origin", "main"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = d.workdir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	d.stop()

	again, err := startDemo(state)
	if err != nil {
		t.Fatal(err)
	}
	defer again.stop()
	if got := again.replicas(); got != 2 {
		t.Fatalf("a second run shows %d replicas, want the 2 committed", got)
	}
	out, err := exec.Command("git", "--git-dir", filepath.Join(state, "git", "demo.git"), "log", "-1", "--format=%s").Output()
	if err != nil || strings.TrimSpace(string(out)) != "2 replicas" {
		t.Fatalf("the served repository's head is %q (%v), want the pushed commit", out, err)
	}
}

// The demo repository's hook announces a push as GitHub does: a push event, signed with the
// Receiver's token, for each ref.
func TestNotifyPushSignsAsGitHub(t *testing.T) {
	const token = "demo-token"
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(token))
		mac.Write(body)
		if r.Header.Get("X-GitHub-Event") != "push" || r.Header.Get("X-Hub-Signature-256") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var push struct{ Ref, After string }
		_ = json.Unmarshal(body, &push)
		got = append(got, push.Ref+" "+push.After)
	}))
	defer srv.Close()
	code, err := postPush(srv.URL, []byte(token), strings.Repeat("0", 40), strings.Repeat("a", 40), "refs/heads/main")
	if err != nil || code != http.StatusOK {
		t.Fatalf("postPush = %d, %v", code, err)
	}
	if len(got) != 1 || got[0] != "refs/heads/main "+strings.Repeat("a", 40) {
		t.Errorf("received %v", got)
	}
	if code, _ := postPush(srv.URL, []byte("another token"), "", "", "refs/heads/main"); code != http.StatusBadRequest {
		t.Errorf("a push signed with another token was taken: %d", code)
	}
}

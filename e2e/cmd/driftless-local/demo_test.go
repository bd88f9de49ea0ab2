package main

import (
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

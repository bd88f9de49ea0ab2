package redact

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	tests := []struct {
		name, in, want string
		secrets        []string
	}{
		{"userinfo", `failed to clone https://user:s3cret@git.example.com/org/repo.git: 401`, `failed to clone https://git.example.com/org/repo.git: 401`, nil},
		{"token only", `GET "https://ghp_abc123@github.com/x" failed`, `GET "https://github.com/x" failed`, nil},
		{"query", `fetch https://s3.example.com/b?X-Amz-Signature=abcd&X-Amz-Credential=AKIA done`, `fetch https://s3.example.com/b done`, nil},
		{"fragment", `see http://h/p#access_token=xyz`, `see http://h/p`, nil},
		{"ssh", `ssh://git:pw@host:22/repo`, `ssh://host:22/repo`, nil},
		{"several", `a http://u:p@h1/x and https://h2/y?t=1`, `a http://h1/x and https://h2/y`, nil},
		{"no url", `nothing to see`, `nothing to see`, nil},
		{"secret value", `auth failed for token hunter2-token`, `auth failed for token ***`, []string{"hunter2-token"}},
		{"short secret ignored", `a b c`, `a b c`, []string{"a"}},
		{"unparsable", `x https://user:pa%zz@host/p?q=1 y`, `x https://host/p y`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := String(tt.in, tt.secrets...)
			if got != tt.want {
				t.Fatalf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestStringNeverLeaksUnparsableUserinfo(t *testing.T) {
	got := String(`https://user:pa%zz@host/p`)
	if strings.Contains(got, "pa%zz") {
		t.Fatalf("password leaked: %q", got)
	}
}

func TestErrorKeepsChain(t *testing.T) {
	base := &fs.PathError{Op: "open", Path: "https://u:p@h/x", Err: fs.ErrNotExist}
	err := Error(base)
	if strings.Contains(err.Error(), "u:p@") {
		t.Fatalf("credentials leaked: %v", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("errors.Is lost the chain")
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		t.Fatalf("errors.As lost the chain")
	}
	if Error(nil) != nil {
		t.Fatal("Error(nil) must be nil")
	}
	plain := errors.New("plain")
	if Error(plain) != plain {
		t.Fatal("an error without secrets must be returned as is")
	}
}

package redact

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

type stringer string

func (s stringer) String() string { return string(s) }

// Every line a controller logs passes the redaction: messages, values, errors and values
// given to WithValues, whoever logs them.
func TestLogSinkRedactsEveryLine(t *testing.T) {
	var lines []string
	base := funcr.New(func(prefix, args string) { lines = append(lines, prefix+" "+args) }, funcr.Options{})
	log := logr.New(LogSink(base.GetSink())).WithName("gitrepository").WithValues("source", "https://bob:hunter2@git.example.com/r?token=t0ps3cret")
	log.Info("cloning https://bob:hunter2@git.example.com/r", "url", "https://bob:hunter2@git.example.com/r", "urls", []string{"https://x:hunter2@h/y"}, "target", stringer("https://u:hunter2@h/"))
	log.Error(errors.New(`Get "https://bob:hunter2@git.example.com/r?token=t0ps3cret": 401`), "Reconciler error", "attempt", 3)
	if len(lines) != 2 {
		t.Fatalf("lines = %q", lines)
	}
	for _, l := range lines {
		if strings.Contains(l, "hunter2") || strings.Contains(l, "t0ps3cret") {
			t.Errorf("a secret reached the log: %s", l)
		}
		if !strings.Contains(l, "git.example.com/r") {
			t.Errorf("the redacted line lost what it was about: %s", l)
		}
	}
	if !strings.Contains(lines[1], `"attempt"=3`) {
		t.Errorf("a non-string value was changed: %s", lines[1])
	}
}

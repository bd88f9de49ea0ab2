package receiver

import (
	"net/http"
	"testing"

	notifyv1 "github.com/driftless-dev/driftless/notification-controller/api/v1"
)

// Whatever a caller sends, validation never panics, and a call it accepts carries the token's
// signature (or the token, for GitLab).
func FuzzValidate(f *testing.F) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	f.Add(notifyv1.GitHubReceiver, "X-Hub-Signature-256", signature(body, token), body)
	f.Add(notifyv1.GitHubReceiver, "X-Hub-Signature", "sha1=00", body)
	f.Add(notifyv1.GenericHMACReceiver, "X-Signature", "sha256=zz", body)
	f.Add(notifyv1.GitLabReceiver, "X-Gitlab-Token", token, body)
	f.Add(notifyv1.BitbucketReceiver, "X-Hub-Signature", "=", []byte{})
	f.Add(notifyv1.HarborReceiver, "Authorization", token, body)
	f.Add(notifyv1.NexusReceiver, "X-Nexus-Webhook-Signature", "00", body)
	f.Add(notifyv1.CDEventsReceiver, "Ce-Type", "dev.cdevents.artifact.published.0.1.1", []byte(`{"context":{"id":"1","source":"s","type":"dev.cdevents.artifact.published.0.1.1","timestamp":"2026-01-01T00:00:00Z"},"subject":{"id":"x"}}`))
	f.Fuzz(func(t *testing.T, kind, header, value string, body []byte) {
		h := http.Header{}
		h.Set(header, value)
		if _, err := validate(kind, h, body, token); err != nil {
			return
		}
		switch kind {
		case notifyv1.GenericReceiver:
		case notifyv1.GitLabReceiver:
			if h.Get("X-Gitlab-Token") != token {
				t.Fatalf("gitlab accepted token %q", h.Get("X-Gitlab-Token"))
			}
		case notifyv1.GitHubReceiver, notifyv1.GenericHMACReceiver, notifyv1.BitbucketReceiver:
			if checkSignature(value, body, token) != nil {
				t.Fatalf("%s accepted %s: %q", kind, header, value)
			}
		case notifyv1.HarborReceiver:
			if h.Get("Authorization") != token {
				t.Fatalf("harbor accepted Authorization %q", h.Get("Authorization"))
			}
		case notifyv1.NexusReceiver:
			if checkSignature("sha1="+h.Get("X-Nexus-Webhook-Signature"), body, token) != nil {
				t.Fatalf("nexus accepted %q", value)
			}
		case notifyv1.DockerHubReceiver, notifyv1.QuayReceiver, notifyv1.ACRReceiver, notifyv1.CDEventsReceiver:
			// Unsigned by their senders: the path is the secret, the body only has to parse.
		default:
			t.Fatalf("type %q accepted", kind)
		}
	})
}

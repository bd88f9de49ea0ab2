package notifier

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftless-dev/driftless/pkg/apis/event"
)

// service is a server on 127.0.0.1 that records each request and answers with what its
// answers map gives for "<method> <path>" (200 and no body otherwise).
type service struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
	answers  map[string]string
	status   int
}

type request struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// json decodes the request's body.
func (r request) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v\n%s", r.method, r.path, err, r.body)
	}
	return m
}

func newService(t *testing.T) *service {
	s := &service{answers: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, request{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery, header: r.Header.Clone(), body: body})
		answer, status := s.answers[r.Method+" "+r.URL.EscapedPath()], s.status
		s.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
		}
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *service) got() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.requests...)
}

const commit = "0123456789abcdef0123456789abcdef01234567"

// testEvent is a Kustomization's success as the dispatcher hands it over: metadata without
// group prefixes.
func testEvent(severity string) *event.Event {
	ev := &event.Event{
		InvolvedObject: corev1.ObjectReference{
			APIVersion: "kustomize.toolkit.fluxcd.io/v1", Kind: "Kustomization",
			Namespace: "flux-system", Name: "apps", UID: "9f0c1a2b-0000-4000-8000-000000000001",
		},
		Severity:            severity,
		Timestamp:           metav1.NewTime(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)),
		Message:             "Applied revision: main@sha1:" + commit,
		Reason:              "ReconciliationSucceeded",
		ReportingController: "kustomize-controller",
		Metadata:            map[string]string{"revision": "main@sha1:" + commit, "summary": "prod eu-west"},
	}
	if severity == event.SeverityError {
		ev.Reason, ev.Message = "HealthCheckFailed", "Deployment/apps/web: not ready"
	}
	return ev
}

func post(t *testing.T, cfg Config, ev *event.Event) {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Type, err)
	}
	if err := n.Post(context.Background(), ev); err != nil {
		t.Fatalf("Post(%s): %v", cfg.Type, err)
	}
}

// one is the single request a notifier made.
func one(t *testing.T, s *service) request {
	t.Helper()
	got := s.got()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1: %+v", len(got), got)
	}
	return got[0]
}

func wantEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s = %s, want %s", what, g, w)
	}
}

func TestGenericSignsTheEvent(t *testing.T) {
	s := newService(t)
	post(t, Config{Type: "generic-hmac", Address: s.URL + "/hook", Token: "s3cret", Headers: map[string]string{"X-Team": "web"}}, testEvent(event.SeverityInfo))
	r := one(t, s)
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write(r.body)
	wantEqual(t, "X-Signature", r.header.Get("X-Signature"), "sha256="+hex.EncodeToString(mac.Sum(nil)))
	wantEqual(t, "Gotk-Component", r.header.Get("Gotk-Component"), "kustomize-controller")
	wantEqual(t, "X-Team", r.header.Get("X-Team"), "web")
	var ev event.Event
	if err := json.Unmarshal(r.body, &ev); err != nil || ev.InvolvedObject.Name != "apps" {
		t.Errorf("body is not the event: %v %s", err, r.body)
	}
}

func TestSlackFormatsAnAttachment(t *testing.T) {
	s := newService(t)
	post(t, Config{Type: "slack", Address: s.URL + "/services/T0/B0/x", Channel: "deploys"}, testEvent(event.SeverityError))
	r := one(t, s)
	body := r.json(t)
	wantEqual(t, "channel", body["channel"], "deploys")
	wantEqual(t, "username", body["username"], "kustomize-controller")
	wantEqual(t, "attachments", body["attachments"], []any{map[string]any{
		"color":       "danger",
		"author_name": "kustomization/apps.flux-system",
		"text":        "Deployment/apps/web: not ready",
		"mrkdwn_in":   []string{"text"},
		"fields": []any{
			map[string]any{"title": "revision", "value": "main@sha1:" + commit, "short": false},
			map[string]any{"title": "summary", "value": "prod eu-west", "short": false},
		},
	}})
	if r.header.Get("Authorization") != "" {
		t.Error("a webhook post carries an Authorization header")
	}
}

func TestSlackChatPostMessageChecksTheAnswer(t *testing.T) {
	s := newService(t)
	s.answers["POST /api/chat.postMessage"] = `{"ok": false, "error": "channel_not_found"}`
	n, err := New(Config{Type: "slack", Address: s.URL + "/api/chat.postMessage", Channel: "deploys", Token: "xoxb-1"})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Post(context.Background(), testEvent(event.SeverityInfo))
	if err == nil || !strings.Contains(err.Error(), "channel_not_found") || Retryable(err) {
		t.Fatalf("Post = %v, want a permanent channel_not_found", err)
	}
	wantEqual(t, "Authorization", one(t, s).header.Get("Authorization"), "Bearer xoxb-1")
	if _, err := New(Config{Type: "slack", Token: "xoxb-1"}); err == nil {
		t.Error("chat.postMessage without a channel was accepted")
	}
}

func TestDiscordPostsToTheSlackPath(t *testing.T) {
	s := newService(t)
	post(t, Config{Type: "discord", Address: s.URL + "/api/webhooks/1/abc"}, testEvent(event.SeverityInfo))
	wantEqual(t, "path", one(t, s).path, "/api/webhooks/1/abc/slack")
}

func TestTeamsSendsAnAdaptiveCard(t *testing.T) {
	s := newService(t)
	post(t, Config{Type: "msteams", Address: s.URL + "/workflows/1"}, testEvent(event.SeverityError))
	body := one(t, s).json(t)
	att := body["attachments"].([]any)[0].(map[string]any)
	wantEqual(t, "contentType", att["contentType"], "application/vnd.microsoft.card.adaptive")
	card := att["content"].(map[string]any)
	wantEqual(t, "version", card["version"], "1.4")
	items := card["body"].([]any)[0].(map[string]any)["items"].([]any)
	wantEqual(t, "title", items[0].(map[string]any)["text"], "kustomization/apps.flux-system")
	wantEqual(t, "message", items[1], map[string]any{"color": "attention", "text": "Deployment/apps/web: not ready", "type": "TextBlock", "wrap": true})
	wantEqual(t, "facts", items[2].(map[string]any)["facts"], []any{
		map[string]any{"title": "summary", "value": "prod eu-west"},
		map[string]any{"title": "revision", "value": "main@sha1:" + commit},
	})
}

func TestChatPayloads(t *testing.T) {
	for _, tc := range []struct {
		cfg   Config
		path  string
		check func(t *testing.T, r request)
	}{{
		cfg:  Config{Type: "rocket", Address: "/hooks/abc"},
		path: "/hooks/abc",
		check: func(t *testing.T, r request) {
			wantEqual(t, "author", r.json(t)["attachments"].([]any)[0].(map[string]any)["author_name"], "kustomization/apps.flux-system")
		},
	}, {
		cfg:  Config{Type: "googlechat", Address: "/v1/spaces/X/messages"},
		path: "/v1/spaces/X/messages",
		check: func(t *testing.T, r request) {
			card := r.json(t)["cards"].([]any)[0].(map[string]any)
			wantEqual(t, "header", card["header"], map[string]any{"title": "kustomization/apps.flux-system", "subtitle": "kustomize-controller"})
			wantEqual(t, "sections", len(card["sections"].([]any)), 2)
		},
	}, {
		cfg:  Config{Type: "webex", Address: "/v1/messages", Channel: "room-1", Token: "bot"},
		path: "/v1/messages",
		check: func(t *testing.T, r request) {
			body := r.json(t)
			wantEqual(t, "roomId", body["roomId"], "room-1")
			if md := body["markdown"].(string); !strings.HasPrefix(md, "**kustomization/apps.flux-system**\n\nApplied revision") {
				t.Errorf("markdown = %q", md)
			}
			wantEqual(t, "Authorization", r.header.Get("Authorization"), "Bearer bot")
		},
	}, {
		cfg:  Config{Type: "telegram", Channel: "-100123", Token: "42:secret"},
		path: "/bot42:secret/sendMessage",
		check: func(t *testing.T, r request) {
			body := r.json(t)
			wantEqual(t, "chat_id", body["chat_id"], "-100123")
			if !strings.Contains(body["text"].(string), "kustomization/apps.flux-system\nApplied revision") {
				t.Errorf("text = %q", body["text"])
			}
		},
	}, {
		cfg:  Config{Type: "matrix", Channel: "!room:example.org", Token: "mx"},
		path: "/_matrix/client/r0/rooms/%21room:example.org/send/m.room.message/",
		check: func(t *testing.T, r request) {
			wantEqual(t, "method", r.method, http.MethodPut)
			wantEqual(t, "msgtype", r.json(t)["msgtype"], "m.text")
			wantEqual(t, "Authorization", r.header.Get("Authorization"), "Bearer mx")
		},
	}, {
		cfg:  Config{Type: "lark", Address: "/open-apis/bot/v2/hook/1"},
		path: "/open-apis/bot/v2/hook/1",
		check: func(t *testing.T, r request) {
			body := r.json(t)
			wantEqual(t, "msg_type", body["msg_type"], "interactive")
			wantEqual(t, "template", body["card"].(map[string]any)["header"].(map[string]any)["template"], "turquoise")
		},
	}, {
		cfg:  Config{Type: "zulip", Address: "/", Channel: "deploys/prod", Username: "bot@zulip", Password: "key"},
		path: "/api/v1/messages",
		check: func(t *testing.T, r request) {
			form, _ := url.ParseQuery(string(r.body))
			wantEqual(t, "form", []string{form.Get("type"), form.Get("to"), form.Get("topic")}, []string{"stream", "deploys", "prod"})
			if !strings.HasPrefix(form.Get("content"), "## Flux Status\n\nℹ️ Kustomization/flux-system/apps\n\n") ||
				!strings.Contains(form.Get("content"), "* `summary`: prod eu-west\n") {
				t.Errorf("content = %q", form.Get("content"))
			}
			wantEqual(t, "Authorization", r.header.Get("Authorization"), "Basic "+base64.StdEncoding.EncodeToString([]byte("bot@zulip:key")))
		},
	}} {
		t.Run(tc.cfg.Type, func(t *testing.T) {
			s := newService(t)
			tc.cfg.Address = s.URL + tc.cfg.Address
			post(t, tc.cfg, testEvent(event.SeverityInfo))
			r := one(t, s)
			if !strings.HasPrefix(r.path, tc.path) {
				t.Errorf("path = %s, want %s", r.path, tc.path)
			}
			tc.check(t, r)
		})
	}
}

func TestIncidentPayloads(t *testing.T) {
	t.Run("pagerduty triggers on error", func(t *testing.T) {
		s := newService(t)
		post(t, Config{Type: "pagerduty", Address: s.URL, Channel: "routing"}, testEvent(event.SeverityError))
		r := one(t, s)
		wantEqual(t, "path", r.path, "/v2/enqueue")
		body := r.json(t)
		wantEqual(t, "action", []any{body["event_action"], body["routing_key"], body["dedup_key"]}, []string{"trigger", "routing", "9f0c1a2b-0000-4000-8000-000000000001"})
		wantEqual(t, "summary", body["payload"].(map[string]any)["summary"], "health check failed: kustomization/apps")
	})
	t.Run("pagerduty resolves on recovery", func(t *testing.T) {
		s := newService(t)
		post(t, Config{Type: "pagerduty", Address: s.URL, Channel: "routing"}, testEvent(event.SeverityInfo))
		got := s.got()
		if len(got) != 2 || got[0].path != "/v2/enqueue" || got[1].path != "/v2/change/enqueue" {
			t.Fatalf("requests = %+v", got)
		}
		wantEqual(t, "action", got[0].json(t)["event_action"], "resolve")
	})
	for _, tc := range []struct {
		cfg   Config
		path  string
		check func(t *testing.T, r request)
	}{{
		cfg:  Config{Type: "opsgenie", Address: "/v2/alerts", Token: "genie"},
		path: "/v2/alerts",
		check: func(t *testing.T, r request) {
			wantEqual(t, "Authorization", r.header.Get("Authorization"), "GenieKey genie")
			wantEqual(t, "description", r.json(t)["description"], "Deployment/apps/web: not ready")
		},
	}, {
		cfg:  Config{Type: "alertmanager", Address: "/api/v2/alerts", Username: "am", Password: "pw"},
		path: "/api/v2/alerts",
		check: func(t *testing.T, r request) {
			var alerts []map[string]any
			if err := json.Unmarshal(r.body, &alerts); err != nil || len(alerts) != 1 {
				t.Fatalf("body = %s", r.body)
			}
			labels := alerts[0]["labels"].(map[string]any)
			wantEqual(t, "labels", []any{labels["alertname"], labels["severity"], labels["namespace"]}, []string{"FluxKustomizationHealthCheckFailed", "error", "flux-system"})
			wantEqual(t, "annotations", alerts[0]["annotations"], map[string]any{"message": "Deployment/apps/web: not ready", "summary": "prod eu-west"})
			wantEqual(t, "startsAt", alerts[0]["startsAt"], "2026-12-02T10:00:00Z")
			if u, p, ok := (&http.Request{Header: r.header}).BasicAuth(); !ok || u != "am" || p != "pw" {
				t.Error("no basic auth")
			}
		},
	}, {
		cfg:  Config{Type: "grafana", Address: "/api/annotations/graphite", Token: "glsa"},
		path: "/api/annotations/graphite",
		check: func(t *testing.T, r request) {
			body := r.json(t)
			wantEqual(t, "text", body["text"], "kustomization/apps.flux-system")
			wantEqual(t, "tags", body["tags"].([]any)[:3], []string{"flux", "kustomize-controller", "revision: main@sha1|" + commit})
		},
	}, {
		cfg:  Config{Type: "datadog", Address: "/", Token: "dd"},
		path: "/api/v1/events",
		check: func(t *testing.T, r request) {
			wantEqual(t, "DD-API-KEY", r.header.Get("DD-API-KEY"), "dd")
			body := r.json(t)
			wantEqual(t, "alert_type", body["alert_type"], "error")
			wantEqual(t, "title", body["title"], "Events from the Kustomization apps/flux-system")
		},
	}, {
		cfg:  Config{Type: "sentry", Address: "/42", Channel: "production"},
		path: "/api/42/envelope/",
		check: func(t *testing.T, r request) {
			if !strings.Contains(r.header.Get("X-Sentry-Auth"), "sentry_key=public") {
				t.Errorf("X-Sentry-Auth = %q", r.header.Get("X-Sentry-Auth"))
			}
			lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
			if len(lines) != 3 {
				t.Fatalf("envelope = %s", r.body)
			}
			var item map[string]any
			_ = json.Unmarshal([]byte(lines[2]), &item)
			wantEqual(t, "event", []any{item["level"], item["environment"], item["message"]}, []any{"error", "production", map[string]any{"formatted": "Deployment/apps/web: not ready"}})
		},
	}} {
		t.Run(tc.cfg.Type, func(t *testing.T) {
			s := newService(t)
			tc.cfg.Address = s.URL + tc.cfg.Address
			if tc.cfg.Type == "sentry" {
				tc.cfg.Address = strings.Replace(tc.cfg.Address, "http://", "http://public@", 1)
			}
			post(t, tc.cfg, testEvent(event.SeverityError))
			r := one(t, s)
			if r.path != tc.path {
				t.Errorf("path = %s, want %s", r.path, tc.path)
			}
			tc.check(t, r)
		})
	}
}

func TestCommitStatuses(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		repo string
		// path of the status request, and the body fields it must carry.
		path string
		want map[string]any
		auth func(h http.Header) bool
	}{{
		cfg:  Config{Type: "github", Token: "ghp"},
		repo: "/org/app.git",
		path: "/api/v3/repos/org/app/statuses/" + commit,
		want: map[string]any{"state": "success", "context": "kustomization/apps/9f0c1a2b", "description": "reconciliation succeeded"},
		auth: func(h http.Header) bool { return h.Get("Authorization") == "Bearer ghp" },
	}, {
		cfg:  Config{Type: "gitlab", Token: "glpat"},
		repo: "/group/sub/app",
		path: "/api/v4/projects/group%2Fsub%2Fapp/statuses/" + commit,
		want: map[string]any{"state": "success", "name": "kustomization/apps/9f0c1a2b", "description": "reconciliation succeeded"},
		auth: func(h http.Header) bool { return h.Get("PRIVATE-TOKEN") == "glpat" },
	}, {
		cfg:  Config{Type: "gitea", Token: "tea"},
		repo: "/org/app",
		path: "/api/v1/repos/org/app/statuses/" + commit,
		want: map[string]any{"state": "success", "context": "kustomization/apps/9f0c1a2b"},
		auth: func(h http.Header) bool { return h.Get("Authorization") == "token tea" },
	}, {
		cfg:  Config{Type: "bitbucket", Token: "user:app-pass"},
		repo: "/team/app",
		path: "/2.0/repositories/team/app/commit/" + commit + "/statuses/build",
		want: map[string]any{"state": "SUCCESSFUL", "name": "kustomization/apps/9f0c1a2b", "key": "the SHA-1 of the id"},
		auth: func(h http.Header) bool {
			u, p, ok := (&http.Request{Header: h}).BasicAuth()
			return ok && u == "user" && p == "app-pass"
		},
	}, {
		cfg:  Config{Type: "bitbucketserver", Token: "bbs"},
		repo: "/scm/PRJ/app.git",
		path: "/rest/api/latest/projects/PRJ/repos/app/commits/" + commit + "/builds",
		want: map[string]any{"state": "SUCCESSFUL", "key": "kustomization/apps/9f0c1a2b"},
		auth: func(h http.Header) bool { return h.Get("Authorization") == "Bearer bbs" },
	}, {
		cfg:  Config{Type: "azuredevops", Token: "pat"},
		repo: "/org/proj/_git/app",
		path: "/org/proj/_apis/git/repositories/app/commits/" + commit + "/statuses",
		want: map[string]any{"state": "succeeded", "context": map[string]any{"genre": "fluxcd", "name": "kustomization/apps/9f0c1a2b"}},
		auth: func(h http.Header) bool {
			_, p, ok := (&http.Request{Header: h}).BasicAuth()
			return ok && p == "pat"
		},
	}} {
		t.Run(tc.cfg.Type, func(t *testing.T) {
			s := newService(t)
			tc.cfg.Address = s.URL + tc.repo
			tc.cfg.ProviderUID = "9f0c1a2b-77aa-4bb8-9c1d-000000000000"
			post(t, tc.cfg, testEvent(event.SeverityInfo))
			var status *request
			for _, r := range s.got() {
				if r.method == http.MethodPost {
					status = &r
				}
			}
			if status == nil {
				t.Fatalf("no status posted: %+v", s.got())
			}
			if status.path != tc.path {
				t.Errorf("path = %s, want %s", status.path, tc.path)
			}
			body := status.json(t)
			for k, v := range tc.want {
				if k == "key" && tc.cfg.Type == "bitbucket" {
					if len(body[k].(string)) != 40 {
						t.Errorf("key = %v, want a SHA-1", body[k])
					}
					continue
				}
				wantEqual(t, k, body[k], v)
			}
			if !tc.auth(status.header) {
				t.Errorf("auth headers wrong: %v", status.header)
			}
		})
	}
}

func TestGitHubStatusIsNotRepeated(t *testing.T) {
	s := newService(t)
	s.answers["GET /api/v3/repos/org/app/commits/"+commit+"/statuses"] =
		`[{"context": "kustomization/apps/9f0c1a2b", "state": "success", "description": "reconciliation succeeded"}]`
	cfg := Config{Type: "github", Address: s.URL + "/org/app", Token: "ghp", ProviderUID: "9f0c1a2b-1"}
	post(t, cfg, testEvent(event.SeverityInfo))
	if got := s.got(); len(got) != 1 || got[0].method != http.MethodGet {
		t.Fatalf("requests = %+v, want only the listing", got)
	}
	post(t, cfg, testEvent(event.SeverityError))
	if got := s.got(); len(got) != 3 || got[2].json(t)["state"] != "failure" {
		t.Fatalf("a changed state was not posted: %+v", got)
	}
}

func TestCommitStatusExprNamesTheStatus(t *testing.T) {
	s := newService(t)
	cfg := Config{Type: "gitea", Address: s.URL + "/org/app", Token: "t",
		CommitStatusID: func(ev *event.Event) (string, error) { return "flux/" + ev.InvolvedObject.Name, nil }}
	post(t, cfg, testEvent(event.SeverityInfo))
	wantEqual(t, "context", s.got()[1].json(t)["context"], "flux/apps")
}

func TestGitHubDispatch(t *testing.T) {
	s := newService(t)
	post(t, Config{Type: "githubdispatch", Address: s.URL + "/org/app", Token: "ghp"}, testEvent(event.SeverityInfo))
	r := one(t, s)
	wantEqual(t, "path", r.path, "/api/v3/repos/org/app/dispatches")
	body := r.json(t)
	wantEqual(t, "event_type", body["event_type"], "Kustomization/apps.flux-system")
	wantEqual(t, "client_payload.involvedObject.name", body["client_payload"].(map[string]any)["involvedObject"].(map[string]any)["name"], "apps")
}

func TestChangeRequestCommentIsEditedInPlace(t *testing.T) {
	for _, tc := range []struct {
		typ, list, edit, editMethod string
	}{
		{"githubpullrequestcomment", "/api/v3/repos/org/app/issues/7/comments", "/api/v3/repos/org/app/issues/comments/99", http.MethodPatch},
		{"giteapullrequestcomment", "/api/v1/repos/org/app/issues/7/comments", "/api/v1/repos/org/app/issues/comments/99", http.MethodPatch},
		{"gitlabmergerequestcomment", "/api/v4/projects/org%2Fapp/merge_requests/7/notes", "/api/v4/projects/org%2Fapp/merge_requests/7/notes/99", http.MethodPut},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			s := newService(t)
			cfg := Config{Type: tc.typ, Address: s.URL + "/org/app", Token: "tok", ProviderUID: "uid-1"}
			ev := testEvent(event.SeverityInfo)
			ev.Metadata[event.MetaChangeRequestKey] = "7"
			post(t, cfg, ev)
			got := s.got()
			if len(got) != 2 || got[1].method != http.MethodPost || got[1].path != tc.list {
				t.Fatalf("first event: %+v", got)
			}
			body := got[1].json(t)["body"].(string)
			if !strings.HasPrefix(body, "<!-- flux-notification:uid-1/Kustomization/flux-system/apps -->") || strings.Contains(body, "change_request") {
				t.Errorf("body = %q", body)
			}
			existing, _ := json.Marshal([]map[string]any{{"id": 1, "body": "someone else"}, {"id": 99, "body": body}})
			s.answers["GET "+tc.list] = string(existing)
			post(t, cfg, ev) // the same text: nothing to edit
			if n := len(s.got()); n != 3 {
				t.Fatalf("the same comment was written again: %d requests", n)
			}
			post(t, cfg, testEventWithChange(event.SeverityError))
			got = s.got()
			last := got[len(got)-1]
			if last.method != tc.editMethod || last.path != tc.edit {
				t.Fatalf("the comment was not edited: %s %s", last.method, last.path)
			}
		})
	}
}

func testEventWithChange(severity string) *event.Event {
	ev := testEvent(severity)
	ev.Metadata[event.MetaChangeRequestKey] = "7"
	return ev
}

func TestAcceptsAsFluxFilters(t *testing.T) {
	info := testEvent(event.SeverityInfo)
	update := testEvent(event.SeverityInfo)
	update.Metadata[event.MetaCommitStatusKey] = event.MetaCommitStatusUpdate
	noRevision := testEvent(event.SeverityInfo)
	delete(noRevision.Metadata, "revision")
	oci := testEvent(event.SeverityInfo)
	oci.Metadata = map[string]string{"revision": "v1@sha256:" + strings.Repeat("a", 64), "originRevision": "main@sha1:" + commit}
	ociOnly := testEvent(event.SeverityInfo)
	ociOnly.Metadata = map[string]string{"revision": "sha256:" + strings.Repeat("a", 64)}
	for _, tc := range []struct {
		typ  string
		ev   *event.Event
		want bool
	}{
		{"slack", info, true},
		{"slack", update, false},
		{"github", update, true},
		{"github", noRevision, false},
		{"gitlab", oci, true},
		{"gitlab", ociOnly, false},
		{"githubpullrequestcomment", info, false},
		{"githubpullrequestcomment", testEventWithChange(event.SeverityInfo), true},
	} {
		if got := Accepts(tc.typ, tc.ev); got != tc.want {
			t.Errorf("Accepts(%s, %v) = %v, want %v", tc.typ, tc.ev.Metadata, got, tc.want)
		}
	}
	if sha, _ := commitOf(oci); sha != commit {
		t.Errorf("commitOf(oci) = %s, want the origin commit", sha)
	}
}

func TestErrorsNeverNameTheAddressOrToken(t *testing.T) {
	s := newService(t)
	s.status = http.StatusBadGateway
	n, err := New(Config{Type: "telegram", Address: s.URL, Channel: "1", Token: "42:very-secret"})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Post(context.Background(), testEvent(event.SeverityInfo))
	if err == nil || !Retryable(err) {
		t.Fatalf("Post = %v, want a retryable error", err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	n, _ = New(Config{Type: "telegram", Address: closed.URL, Channel: "1", Token: "42:very-secret"})
	err2 := n.Post(context.Background(), testEvent(event.SeverityInfo))
	for _, e := range []error{err, err2} {
		if e == nil || strings.Contains(e.Error(), "very-secret") || strings.Contains(e.Error(), "127.0.0.1") {
			t.Errorf("error leaks: %v", e)
		}
	}
	for _, cfg := range []Config{
		{Type: "slack"},
		{Type: "slack", Address: "ftp://x"},
		{Type: "zulip", Address: "https://z", Channel: "no-topic", Username: "u", Password: "p"},
		{Type: "github", Address: "https://github.com/only-owner", Token: "t"},
		{Type: "bitbucket", Address: "https://bitbucket.org/o/r", Token: "no-colon"},
		{Type: "azuredevops", Address: "https://dev.azure.com/o/p/r", Token: "t"},
		{Type: "sentry", Address: "https://host/1"},
		{Type: "nonsense"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		} else if cfg.Address != "" && strings.Contains(err.Error(), cfg.Address) {
			t.Errorf("New(%s) error names the address: %v", cfg.Type, err)
		}
	}
}

func TestDescriptionSplitsTheReason(t *testing.T) {
	for reason, want := range map[string]string{
		"ReconciliationSucceeded": "reconciliation succeeded",
		"HealthCheckFailed":       "health check failed",
		"DependencyNotReady":      "dependency not ready",
		"URLInvalid":              "url invalid",
		"":                        "",
	} {
		if got := description(&event.Event{Reason: reason}); got != want {
			t.Errorf("description(%s) = %q, want %q", reason, got, want)
		}
	}
}

// Every type the CRD's enum admits can be built: none is accepted by the API server and
// then refused at delivery.
func TestEveryTypeOfTheEnumIsSupported(t *testing.T) {
	src, err := os.ReadFile("../../api/v1beta3/provider_types.go")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(src), "+kubebuilder:validation:Enum=")
	if !ok {
		t.Fatal("no enum on the Provider's type")
	}
	line, _, _ := strings.Cut(rest, "\n")
	for _, typ := range strings.Split(strings.TrimSpace(line), ";") {
		if !Supported(typ) {
			t.Errorf("type %s is in the enum but not supported", typ)
		}
	}
}

package notifier

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/driftless-dev/driftless/pkg/apis/event"
)

func init() {
	register("generic", newGeneric)
	register("generic-hmac", newGeneric)
	register("slack", newSlack)
	register("discord", newSlack)
	register("rocket", newSlack)
	register("msteams", addressed(func(cfg *Config) Notifier { return &teams{cfg: cfg} }))
	register("googlechat", addressed(func(cfg *Config) Notifier { return &googleChat{cfg: cfg} }))
	register("webex", newWebex)
	register("telegram", newTelegram)
	register("matrix", newMatrix)
	register("lark", addressed(func(cfg *Config) Notifier { return &lark{cfg: cfg} }))
	register("zulip", newZulip)
}

// generic posts the event JSON; generic-hmac signs it with the token.
type generic struct {
	cfg  *Config
	hmac bool
}

func newGeneric(cfg *Config) (Notifier, error) {
	if _, err := requireAddress(cfg); err != nil {
		return nil, err
	}
	g := &generic{cfg: cfg, hmac: cfg.Type == "generic-hmac"}
	if g.hmac && cfg.Token == "" {
		return nil, fmt.Errorf("a generic-hmac Provider needs a 'token' in its Secret")
	}
	return g, nil
}

func (g *generic) Post(ctx context.Context, ev *event.Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return permanent("the event cannot be encoded: %v", err)
	}
	header := map[string]string{"Gotk-Component": ev.ReportingController}
	for k, v := range g.cfg.Headers {
		header[k] = v
	}
	if g.hmac {
		mac := hmac.New(sha256.New, []byte(g.cfg.Token))
		mac.Write(body)
		header["X-Signature"] = "sha256=" + hex.EncodeToString(mac.Sum(nil))
	}
	return g.cfg.do(ctx, call{url: g.cfg.Address, body: body, header: header})
}

// slack posts an attachment: to an incoming webhook, to chat.postMessage with a token, to
// Discord's Slack-compatible endpoint, or to Rocket.Chat.
type slack struct {
	cfg *Config
	url string
	// api is chat.postMessage, which answers 200 with {"ok": false} on failure.
	api bool
}

type slackPayload struct {
	Channel     string            `json:"channel,omitempty"`
	Username    string            `json:"username,omitempty"`
	IconURL     string            `json:"icon_url,omitempty"`
	Text        string            `json:"text,omitempty"`
	Attachments []slackAttachment `json:"attachments"`
}

type slackAttachment struct {
	Color      string       `json:"color"`
	AuthorName string       `json:"author_name"`
	Text       string       `json:"text"`
	MrkdwnIn   []string     `json:"mrkdwn_in"`
	Fields     []slackField `json:"fields"`
}

type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

// slackAPI is chat.postMessage, where a Slack Provider with a token and no address posts.
const slackAPI = "https://slack.com/api/chat.postMessage"

func newSlack(cfg *Config) (Notifier, error) {
	if cfg.Type == "slack" && cfg.Address == "" && cfg.Token != "" {
		cfg.Address = slackAPI
	}
	u, err := requireAddress(cfg)
	if err != nil {
		return nil, err
	}
	s := &slack{cfg: cfg, url: cfg.Address}
	switch cfg.Type {
	case "slack":
		s.api = strings.HasSuffix(u.Path, "/chat.postMessage")
		if s.api && cfg.Channel == "" {
			return nil, fmt.Errorf("a Slack Provider that posts with chat.postMessage needs a channel")
		}
	case "discord":
		// Discord takes Slack's payload on the webhook's /slack path.
		if !strings.HasSuffix(u.Path, "/slack") {
			u.Path = strings.TrimSuffix(u.Path, "/") + "/slack"
			s.url = u.String()
		}
	}
	return s, nil
}

func (s *slack) Post(ctx context.Context, ev *event.Event) error {
	color := "good"
	if ev.Severity == event.SeverityError {
		color = "danger"
	}
	fields := make([]slackField, 0, len(ev.Metadata))
	for _, k := range sortedKeys(ev) {
		fields = append(fields, slackField{Title: k, Value: ev.Metadata[k]})
	}
	p := slackPayload{
		Channel:  s.cfg.Channel,
		Username: s.cfg.Username,
		Attachments: []slackAttachment{{
			Color:      color,
			AuthorName: objectName(ev),
			Text:       ev.Message,
			MrkdwnIn:   []string{"text"},
			Fields:     fields,
		}},
	}
	if p.Username == "" {
		p.Username = ev.ReportingController
	}
	c := call{url: s.url, body: p}
	if s.cfg.Token != "" {
		c.header = map[string]string{"Authorization": "Bearer " + s.cfg.Token}
	}
	if !s.api {
		return s.cfg.do(ctx, c)
	}
	var answer struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	c.into = &answer
	if err := s.cfg.do(ctx, c); err != nil {
		return err
	}
	if !answer.OK {
		return permanent("Slack answered: %s", answer.Error)
	}
	return nil
}

// teams posts an Adaptive Card, which Teams' workflow webhooks take.
type teams struct{ cfg *Config }

func (t *teams) Post(ctx context.Context, ev *event.Event) error {
	message := map[string]any{"type": "TextBlock", "text": ev.Message, "wrap": true}
	if ev.Severity == event.SeverityError {
		message["color"] = "attention"
	}
	facts := []map[string]string{}
	if summary, ok := ev.Metadata["summary"]; ok {
		facts = append(facts, map[string]string{"title": "summary", "value": summary})
	}
	for _, k := range sortedKeys(ev, "summary") {
		facts = append(facts, map[string]string{"title": k, "value": ev.Metadata[k]})
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"msteams": map[string]string{"width": "Full"},
		"body": []any{map[string]any{
			"type": "Container",
			"items": []any{
				map[string]any{"type": "TextBlock", "text": objectName(ev), "size": "large", "weight": "bolder", "wrap": true},
				message,
				map[string]any{"type": "FactSet", "facts": facts},
			},
		}},
	}
	payload := map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"content":     card,
		}},
	}
	return t.cfg.do(ctx, call{url: t.cfg.Address, body: payload})
}

// googleChat posts a card to a Google Chat webhook.
type googleChat struct{ cfg *Config }

func (g *googleChat) Post(ctx context.Context, ev *event.Event) error {
	text := ev.Message
	if ev.Severity == event.SeverityError {
		text = `<font color="#ff0000">` + ev.Message + `</font>`
	}
	sections := []any{map[string]any{"widgets": []any{map[string]any{"textParagraph": map[string]string{"text": text}}}}}
	if len(ev.Metadata) > 0 {
		var widgets []any
		for _, k := range sortedKeys(ev) {
			widgets = append(widgets, map[string]any{"keyValue": map[string]any{"topLabel": k, "content": ev.Metadata[k]}})
		}
		sections = append(sections, map[string]any{"widgets": widgets})
	}
	payload := map[string]any{"cards": []any{map[string]any{
		"header":   map[string]string{"title": objectName(ev), "subtitle": ev.ReportingController},
		"sections": sections,
	}}}
	return g.cfg.do(ctx, call{url: g.cfg.Address, body: payload})
}

// webex posts a Markdown message to a room with a bot's token.
type webex struct{ cfg *Config }

func newWebex(cfg *Config) (Notifier, error) {
	if cfg.Address == "" {
		cfg.Address = "https://webexapis.com/v1/messages"
	}
	if _, err := httpURL("address", cfg.Address); err != nil {
		return nil, err
	}
	if cfg.Channel == "" || cfg.Token == "" {
		return nil, fmt.Errorf("a webex Provider needs the room id as its channel and a bot 'token' in its Secret")
	}
	return &webex{cfg: cfg}, nil
}

func (w *webex) Post(ctx context.Context, ev *event.Event) error {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s**\n\n%s", objectName(ev), ev.Message)
	if keys := sortedKeys(ev); len(keys) > 0 {
		b.WriteString("\n\n**Metadata:**\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "* **%s**: %s\n", k, ev.Metadata[k])
		}
	}
	return w.cfg.do(ctx, call{
		url:    w.cfg.Address,
		body:   map[string]string{"roomId": w.cfg.Channel, "markdown": b.String()},
		header: map[string]string{"Authorization": "Bearer " + w.cfg.Token},
	})
}

// telegram sends a message through the Bot API; the address, when set, replaces
// https://api.telegram.org (a local Bot API server).
type telegram struct {
	cfg  *Config
	base string
}

func newTelegram(cfg *Config) (Notifier, error) {
	base := "https://api.telegram.org"
	if cfg.Address != "" {
		u, err := httpURL("address", cfg.Address)
		if err != nil {
			return nil, err
		}
		base = strings.TrimSuffix(u.String(), "/")
	}
	if cfg.Channel == "" || cfg.Token == "" {
		return nil, fmt.Errorf("a telegram Provider needs the chat id as its channel and the bot 'token' in its Secret")
	}
	return &telegram{cfg: cfg, base: base}, nil
}

func (t *telegram) Post(ctx context.Context, ev *event.Event) error {
	emoji := "💫"
	if ev.Severity == event.SeverityError {
		emoji = "🚨"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n%s\n", emoji, objectName(ev), ev.Message)
	for _, k := range sortedKeys(ev) {
		fmt.Fprintf(&b, "\n• %s: %s", k, ev.Metadata[k])
	}
	return t.cfg.do(ctx, call{
		url:  t.base + "/bot" + t.cfg.Token + "/sendMessage",
		body: map[string]any{"chat_id": t.cfg.Channel, "text": b.String(), "disable_web_page_preview": true},
	})
}

// matrix sends an m.text message to a room, with a transaction id derived from the event so
// that a retried delivery is not posted twice.
type matrix struct{ cfg *Config }

func newMatrix(cfg *Config) (Notifier, error) {
	if _, err := requireAddress(cfg); err != nil {
		return nil, err
	}
	if cfg.Channel == "" || cfg.Token == "" {
		return nil, fmt.Errorf("a matrix Provider needs the room id as its channel and an access 'token' in its Secret")
	}
	return &matrix{cfg: cfg}, nil
}

func (m *matrix) Post(ctx context.Context, ev *event.Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return permanent("the event cannot be encoded: %v", err)
	}
	txn := fmt.Sprintf("%x", sha1.Sum(data))
	emoji := "💫"
	if ev.Severity == event.SeverityError {
		emoji = "🚨"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n%s\n", emoji, objectName(ev), ev.Message)
	for _, k := range sortedKeys(ev) {
		fmt.Fprintf(&b, "- %s: %s\n", k, ev.Metadata[k])
	}
	return m.cfg.do(ctx, call{
		method: http.MethodPut,
		url: strings.TrimSuffix(m.cfg.Address, "/") + "/_matrix/client/r0/rooms/" + url.PathEscape(m.cfg.Channel) +
			"/send/m.room.message/" + txn,
		body:   map[string]string{"msgtype": "m.text", "body": b.String()},
		header: map[string]string{"Authorization": "Bearer " + m.cfg.Token},
	})
}

// lark posts an interactive card to a Lark (Feishu) bot webhook.
type lark struct{ cfg *Config }

func (l *lark) Post(ctx context.Context, ev *event.Event) error {
	emoji, color := "💫", "turquoise"
	if ev.Severity == event.SeverityError {
		emoji, color = "🚨", "red"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "**%s**\n\n", ev.Message)
	for _, k := range sortedKeys(ev) {
		fmt.Fprintf(&b, "%s: %s\n", k, ev.Metadata[k])
	}
	payload := map[string]any{
		"msg_type": "interactive",
		"card": map[string]any{
			"config": map[string]bool{"wide_screen_mode": true},
			"header": map[string]any{
				"title":    map[string]string{"tag": "plain_text", "content": emoji + " " + objectName(ev)},
				"template": color,
			},
			"elements": []any{map[string]any{"tag": "div", "text": map[string]string{"tag": "lark_md", "content": b.String()}}},
		},
	}
	var answer struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	}
	if err := l.cfg.do(ctx, call{url: l.cfg.Address, body: payload, into: &answer}); err != nil {
		return err
	}
	if answer.Code != 0 {
		return permanent("Lark answered %d: %s", answer.Code, answer.Msg)
	}
	return nil
}

// zulip posts a Markdown message to a stream's topic, as a bot with basic auth.
type zulip struct {
	cfg           *Config
	url           string
	stream, topic string
}

func newZulip(cfg *Config) (Notifier, error) {
	u, err := requireAddress(cfg)
	if err != nil {
		return nil, err
	}
	stream, topic, ok := strings.Cut(cfg.Channel, "/")
	if !ok || stream == "" || topic == "" {
		return nil, fmt.Errorf("a zulip Provider's channel is <stream>/<topic>")
	}
	if cfg.Username == "" || cfg.Password == "" {
		return nil, fmt.Errorf("a zulip Provider needs the bot's 'username' and 'password' (its API key) in its Secret")
	}
	u.Path, u.RawQuery = "/api/v1/messages", ""
	return &zulip{cfg: cfg, url: u.String(), stream: stream, topic: topic}, nil
}

func (z *zulip) Post(ctx context.Context, ev *event.Event) error {
	form := url.Values{"type": {"stream"}, "to": {z.stream}, "topic": {z.topic}, "content": {markdown(ev)}}
	return z.cfg.do(ctx, call{url: z.url, body: form, user: z.cfg.Username, password: z.cfg.Password})
}

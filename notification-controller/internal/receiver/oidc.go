package receiver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	notifyv1 "github.com/driftless-dev/driftless/notification-controller/api/v1"
	"github.com/driftless-dev/driftless/pkg/runtime/cel"
)

// googleIssuer signs the tokens of Pub/Sub push subscriptions (the gcr type).
const googleIssuer = "https://accounts.google.com"

// defaultAudience is a generic-oidc token's audience when the Receiver names none.
const defaultAudience = "notification-controller"

// maxIssuers bounds the issuers whose discovery documents and keys are kept.
const maxIssuers = 256

// issuerCache keeps one discovered provider per issuer URL: discovery is one request, and
// the provider's key set refreshes itself when a token names a key it does not know.
type issuerCache struct {
	mu        sync.Mutex
	providers map[string]*oidc.Provider
}

// discoveryClient fetches issuers' discovery documents and keys.
var discoveryClient = &http.Client{Timeout: 10 * time.Second}

func (c *issuerCache) provider(ctx context.Context, issuer string) (*oidc.Provider, error) {
	c.mu.Lock()
	p, ok := c.providers[issuer]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	// The provider keeps this context for its key fetches: it must outlive the request.
	p, err := oidc.NewProvider(oidc.ClientContext(context.WithoutCancel(ctx), discoveryClient), issuer)
	if err != nil {
		return nil, fmt.Errorf("discovering the issuer '%s': %v", issuer, err)
	}
	c.mu.Lock()
	if c.providers == nil || len(c.providers) >= maxIssuers {
		c.providers = map[string]*oidc.Provider{}
	}
	c.providers[issuer] = p
	c.mu.Unlock()
	return p, nil
}

// bearer is the token of an 'Authorization: Bearer <token>' header.
func bearer(h http.Header) (string, error) {
	scheme, token, ok := strings.Cut(h.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", errors.New("no 'Authorization: Bearer <token>' header")
	}
	return token, nil
}

// verify checks a token's signature, issuer, audience and expiry, and returns its claims.
func (s *Server) verify(ctx context.Context, issuer, audience, raw string) (map[string]any, error) {
	p, err := s.issuers.provider(ctx, issuer)
	if err != nil {
		return nil, err
	}
	cfg := &oidc.Config{ClientID: audience, SkipClientIDCheck: audience == ""}
	tok, err := p.Verifier(cfg).Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	claims := map[string]any{}
	if err := tok.Claims(&claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// oidcChecks are an OIDC provider's variables and validations, compiled.
type oidcChecks struct {
	variables   []namedProgram
	validations []validation
}

type namedProgram struct {
	name string
	p    *cel.ValueProgram
}

type validation struct {
	p       *cel.Program
	message string
}

// compileOIDC compiles an OIDC provider's expressions: variables over the claims, and
// validations over the claims and the variables.
func compileOIDC(p *notifyv1.OIDCProvider) (*oidcChecks, error) {
	c := &oidcChecks{}
	for _, v := range p.Variables {
		prog, err := cel.CompileValue([]string{"claims", "variables"}, v.Expression)
		if err != nil {
			return nil, fmt.Errorf("variable '%s': %w", v.Name, err)
		}
		c.variables = append(c.variables, namedProgram{name: v.Name, p: prog})
	}
	for _, v := range p.Validations {
		prog, err := cel.Compile([]string{"claims", "variables"}, v.Expression)
		if err != nil {
			return nil, fmt.Errorf("validation: %w", err)
		}
		c.validations = append(c.validations, validation{p: prog, message: v.Message})
	}
	return c, nil
}

// verifyOIDC accepts a call whose bearer token one of the Receiver's issuers signed for its
// audience, and whose claims pass that issuer's validations; it returns the claims.
func (s *Server) verifyOIDC(ctx context.Context, obj *notifyv1.Receiver, h http.Header) (map[string]any, error) {
	raw, err := bearer(h)
	if err != nil {
		return nil, err
	}
	var errs []error
	for i := range obj.Spec.OIDCProviders {
		p := &obj.Spec.OIDCProviders[i]
		audience := p.Audience
		if audience == "" {
			audience = defaultAudience
		}
		claims, err := s.verify(ctx, p.IssuerURL, audience, raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("issuer '%s': %v", p.IssuerURL, err))
			continue
		}
		checks, err := compileOIDC(p)
		if err != nil {
			return nil, err
		}
		variables := map[string]any{}
		for _, v := range checks.variables {
			val, err := v.p.Eval(map[string]any{"claims": claims, "variables": variables})
			if err != nil {
				return nil, fmt.Errorf("variable '%s': %v", v.name, err)
			}
			variables[v.name] = val
		}
		for _, v := range checks.validations {
			ok, err := v.p.Eval(map[string]any{"claims": claims, "variables": variables})
			if err != nil || !ok {
				return nil, fmt.Errorf("the token was refused: %s", v.message)
			}
		}
		return claims, nil
	}
	return nil, errors.Join(errs...)
}

// verifyGCR accepts a Pub/Sub push of a Container Registry (or Artifact Registry) INSERT
// notification, whose token Google signed for the Secret's audience and service account
// email.
func (s *Server) verifyGCR(ctx context.Context, h http.Header, body []byte, secret map[string][]byte) (string, error) {
	raw, err := bearer(h)
	if err != nil {
		return "", err
	}
	issuer := s.GoogleIssuer
	if issuer == "" {
		issuer = googleIssuer
	}
	claims, err := s.verify(ctx, issuer, string(secret["audience"]), raw)
	if err != nil {
		return "", err
	}
	if email := string(secret["email"]); email != "" {
		if claims["email"] != email || claims["email_verified"] != true {
			return "", errors.New("the token's email is not the Secret's 'email', or is not verified")
		}
	}
	var push struct {
		Message struct {
			Data string `json:"data"`
		} `json:"message"`
	}
	if err := json.Unmarshal(body, &push); err != nil || push.Message.Data == "" {
		return "", errors.New("the body is not a Pub/Sub push message")
	}
	data, err := base64.StdEncoding.DecodeString(push.Message.Data)
	if err != nil {
		return "", errors.New("the Pub/Sub message's data is not base64")
	}
	var n struct {
		Action string `json:"action"`
		Digest string `json:"digest"`
		Tag    string `json:"tag"`
	}
	if err := json.Unmarshal(data, &n); err != nil {
		return "", errors.New("the Pub/Sub message is not a registry notification")
	}
	if n.Action != "INSERT" {
		return "", fmt.Errorf("the registry notification's action is '%s', not INSERT", n.Action)
	}
	return "", nil
}

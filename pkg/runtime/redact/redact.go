package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// urlPattern finds URLs with a scheme in free text. It stops at whitespace and at the quotes
// and brackets that commonly surround a URL in an error message.
var urlPattern = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s"'<>()\[\]{}]+`)

// Mask replaces a removed secret.
const Mask = "***"

// URL returns u without userinfo, query string and fragment. An unparsable URL is reduced to
// its scheme and host part as far as it can be found, never returned whole.
func URL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return roughURL(u)
	}
	if parsed.User != nil {
		parsed.User = nil
	}
	parsed.RawQuery = ""
	parsed.ForceQuery = false
	parsed.Fragment = ""
	parsed.RawFragment = ""
	return parsed.String()
}

// roughURL handles text that url.Parse refuses: keep what precedes '@', '?' or '#' only when
// nothing secret can be in it.
func roughURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return Mask
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	return scheme + "://" + rest
}

// String removes URL credentials and query strings from every URL in s, and masks each of
// the given secret values wherever it appears.
func String(s string, secrets ...string) string {
	s = urlPattern.ReplaceAllStringFunc(s, URL)
	for _, v := range secrets {
		if len(v) >= 4 { // shorter values would mask ordinary words
			s = strings.ReplaceAll(s, v, Mask)
		}
	}
	return s
}

// Error wraps err so that its message is redacted, while errors.Is and errors.As still see the
// original error.
func Error(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := String(err.Error(), secrets...)
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

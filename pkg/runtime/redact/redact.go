package redact

import (
	"strings"
	"unicode"
)

// Mask replaces a removed secret.
const Mask = "***"

// URL returns u without userinfo, query string and fragment.
func URL(u string) string { return String(u) }

// String removes the userinfo, query string and fragment of every URL in s, and masks each
// of the given secret values wherever it appears.
//
// A URL is a scheme and '://', and it ends at whitespace or at a character that no URL holds
// ('"', '<', '>', '\\', '`', '{', '}', '|', '^'). Its userinfo is everything before the last
// '@' that comes before its query string: RFC 3986 allows '(', ')', '\”, ':' and more in
// userinfo, and a password written unescaped may hold '@' or '/', so no shorter rule is safe.
// What follows '?' or '#' is removed to the URL's end. Removing too much is safe; too little
// is a leak.
func String(s string, secrets ...string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			break
		}
		start := i
		for start > 0 && isSchemeChar(s[start-1]) {
			start--
		}
		for start < i && !isLetter(s[start]) { // a scheme starts with a letter
			start++
		}
		if start == i { // '://' without a scheme: not a URL
			b.WriteString(s[:i+3])
			s = s[i+3:]
			continue
		}
		b.WriteString(s[:i+3])
		rest := s[i+3:]
		end := strings.IndexFunc(rest, endsURL)
		if end < 0 {
			end = len(rest)
		}
		u := rest[:end]
		query := strings.IndexAny(u, "?#")
		if query < 0 {
			query = len(u)
		}
		if at := strings.LastIndex(u[:query], "@"); at >= 0 {
			u, query = u[at+1:], query-at-1
		}
		b.WriteString(u[:query])
		s = rest[end:]
	}
	out := b.String()
	for _, v := range secrets {
		if len(v) >= 4 { // shorter values would mask ordinary words
			out = strings.ReplaceAll(out, v, Mask)
		}
	}
	return out
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isSchemeChar(c byte) bool {
	return isLetter(c) || c >= '0' && c <= '9' || c == '+' || c == '.' || c == '-'
}

// endsURL reports whether r cannot be part of a URL written in text.
func endsURL(r rune) bool {
	switch r {
	case '"', '<', '>', '\\', '`', '{', '}', '|', '^':
		return true
	}
	return unicode.IsSpace(r) || unicode.IsControl(r)
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

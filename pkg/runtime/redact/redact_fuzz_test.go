package redact

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Userinfo may hold RFC 3986's unreserved characters, percent-escapes and sub-delims
// ("!$&'()*+,;="), and ':'; passwords are also written with '@' and '/' unescaped.
func TestStringRemovesUserinfoOfEveryForm(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`clone https://user:p(a)ss'w!rd$&*+,;=~@git.example.com/org/repo: 401`, `clone https://git.example.com/org/repo: 401`},
		{`clone https://u:p@ss/w@rd@host/x failed`, `clone https://host/x failed`},
		{`see (https://tok%40en@host/p)`, `see (https://host/p)`},
		{`'https://u:pw@host/x?sig=a(b)c' said`, `'https://host/x said`},
		{`https://host/users/@me stays`, `https://me stays`},
		{`not a url: ://x and a:// b`, `not a url: ://x and a:// b`},
	} {
		if got := String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzString checks the property that matters: whatever text surrounds a URL and whatever
// characters its userinfo and query hold, neither the password nor the query value survives.
func FuzzString(f *testing.F) {
	f.Add("failed to clone ", "https", "user", "s3cret", "git.example.com", "/org/repo.git", "token=abc", ": 401")
	f.Add("(", "ssh", "git", "p(a)ss'w!rd", "host:22", "/repo", "x=1", ")")
	f.Add(`GET "`, "http", "", "ghp_t0k3n", "127.0.0.1:8080", "/", "sig=a&b=c", `" failed`)
	f.Add("", "s3", "AKIA", "pw@with/slash", "bucket.s3.amazonaws.com", "/k", "X-Amz-Signature=f00", "")
	f.Fuzz(func(t *testing.T, prefix, scheme, user, password, host, path, query, suffix string) {
		for _, s := range []string{prefix, scheme, user, password, host, path, query, suffix} {
			if !utf8.ValidString(s) {
				t.Skip()
			}
		}
		// A well-formed URL in text: a scheme, a host of its own, nothing in it that ends a URL.
		if len(scheme) == 0 || !isLetter(scheme[0]) || strings.IndexFunc(scheme, func(r rune) bool { return r > 127 || !isSchemeChar(byte(r)) }) >= 0 ||
			host == "" || strings.ContainsAny(host, "@/?#") || (path != "" && path[0] != '/') || strings.ContainsAny(path, "?#@") {
			t.Skip()
		}
		for _, s := range []string{user, password, host, path, query} {
			if strings.IndexFunc(s, endsURL) >= 0 || strings.Contains(s, "://") {
				t.Skip()
			}
		}
		if suffix != "" {
			if r, _ := utf8.DecodeRuneInString(suffix); !endsURL(r) {
				t.Skip() // the suffix would continue the URL
			}
		}
		text := prefix + scheme + "://" + user + ":" + password + "@" + host + path + "?" + query + suffix
		got := String(text)
		visible := prefix + scheme + "://" + host + path + suffix
		if len(password) >= 3 && !strings.Contains(visible, password) && strings.Contains(got, password) {
			t.Fatalf("String(%q) = %q leaks the password %q", text, got, password)
		}
		if len(query) >= 3 && !strings.Contains(visible, query) && strings.Contains(got, query) {
			t.Fatalf("String(%q) = %q leaks the query %q", text, got, query)
		}
	})
}

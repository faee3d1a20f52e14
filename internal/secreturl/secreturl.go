// Package secreturl shows URLs that may carry credentials (a store URL, a webhook or
// endpoint override) without them.
package secreturl

import (
	"net/url"
	"strings"
)

// Redact returns a store URL fit for a log line or an error: the password of its user
// information and of any password parameter (password=, sslpassword=) masked. Of a URL
// that does not parse, where a password ends cannot be told: only its scheme is kept.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if scheme, _, ok := strings.Cut(raw, "://"); ok && !strings.ContainsAny(scheme, "@:/") {
			return scheme + "://(hidden: not a valid URL)"
		}
		return "(hidden: not a valid URL)"
	}
	const mask = "xxxxx"
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), mask)
	}
	if i := strings.LastIndex(u.Opaque, "@"); i >= 0 {
		// user:password@host without "//": not a URL a store takes, but a password all
		// the same.
		u.Opaque = mask + u.Opaque[i:]
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if strings.Contains(strings.ToLower(k), "password") {
				q[k] = []string{mask}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

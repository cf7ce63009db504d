package postgres

import (
	"net/url"
	"strings"
)

// secretParams are the connection parameters that hold a password; pgx
// reads them in the URL's query as well as in its user info.
var secretParams = []string{"password", "sslpassword"}

// RedactURL returns a PostgreSQL URL fit to show in a log line, an error or
// --help: the user info's password and the values of password= and
// sslpassword= (in any case) become "…", and the fragment is left out.
//
// A URL that does not parse is shown as its scheme alone, and so is one with
// an "@" after its host: that is a password holding an unescaped "/", "?"
// or "#", which ended the host early and left the rest of the password in
// the path, the query or the fragment.
func RedactURL(raw string) string {
	scheme, rest, found := strings.Cut(raw, "://")
	if !found || scheme == "" || strings.ContainsAny(scheme, "/?#@:") {
		return "(a database URL that does not parse)"
	}
	hidden := scheme + "://…"
	u, err := url.Parse(raw)
	if err != nil {
		return hidden
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if strings.Contains(tail, "@") {
		return hidden
	}
	host := authority
	var userinfo string
	if i := strings.LastIndex(authority, "@"); i >= 0 && u.User != nil {
		host = authority[i+1:]
		userinfo = url.User(u.User.Username()).String()
		if _, ok := u.User.Password(); ok {
			userinfo += ":…"
		}
		userinfo += "@"
	}
	tail, _, _ = strings.Cut(tail, "#")
	path, query, hasQuery := strings.Cut(tail, "?")
	out := scheme + "://" + userinfo + host + path
	if !hasQuery {
		return out
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		key, _, _ := strings.Cut(p, "=")
		name, err := url.QueryUnescape(key)
		if err != nil {
			// pgx skips a parameter it cannot read; hide its value all the same.
			params[i] = key + "=…"
			continue
		}
		for _, s := range secretParams {
			if strings.EqualFold(strings.TrimSpace(name), s) {
				params[i] = key + "=…"
			}
		}
	}
	return out + "?" + strings.Join(params, "&")
}

// Package outbound holds what caisse's channels that post over HTTP (team
// alerts, Sanity, the shop's own webhooks) share: a client that never
// follows redirects, reading Retry-After, and quoting an answer or a network
// error without the secrets it may hold.
package outbound

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Timeout bounds one request when no client is given.
const Timeout = 15 * time.Second

// maxRetryAfter caps how long a Retry-After can hold a delivery back, so a
// wrong header cannot park a delivery for days.
const maxRetryAfter = 24 * time.Hour

// snippetLen is how much of an answer an error message quotes, in characters.
const snippetLen = 120

// noRedirects makes a client return a 3xx as it is: a recipient that moved
// is one to set up again, not to chase, and a redirect is not where its
// secrets (a token, an address that is a secret) should go.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Client returns a copy of c (or of a zero client) that never follows
// redirects and gives up after Timeout unless c sets its own.
func Client(c *http.Client) *http.Client {
	var cc http.Client
	if c != nil {
		cc = *c
	}
	if cc.Timeout == 0 {
		cc.Timeout = Timeout
	}
	cc.CheckRedirect = noRedirects
	return &cc
}

// ReadAnswer reads the start of an answer's body and discards the rest, so
// the connection can be reused.
func ReadAnswer(resp *http.Response) []byte {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return b
}

// RetryAfter reads a Retry-After header, in seconds or as an HTTP date, as a
// delay from now; 0 when it is missing, unreadable or already past.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

var tags = regexp.MustCompile(`<[^>]*>`)

// Snippet returns a short, printable piece of an answer that is safe to show
// the owner: each secret replaced, markup and control characters removed,
// whitespace collapsed.
func Snippet(b []byte, secrets []string) string {
	s := Redact(strings.ToValidUTF8(string(b), ""), secrets)
	if strings.HasPrefix(strings.TrimSpace(s), "<") {
		s = tags.ReplaceAllString(s, " ")
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > snippetLen {
		s = string([]rune(s)[:snippetLen]) + "…"
	}
	return s
}

// Redact replaces each secret in s, the longest first.
func Redact(s string, secrets []string) string {
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[secret]")
		}
	}
	return s
}

// TransportCause says why a request got no answer, without the request's
// address: net/http's *url.Error quotes it, and the address is a secret.
func TransportCause(err error, secrets []string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	return Redact(err.Error(), secrets)
}

// IsLoopback reports whether host names this machine.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

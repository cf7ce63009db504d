package smtp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caisse/caisse"
)

// Config is how caisse reaches its mail server and what its emails say about
// the shop. It is read once, at start, and checked by New.
type Config struct {
	// URL is the mail server (CAISSE_SMTP_URL):
	//   - smtp://user:password@host:587 signs in after STARTTLS, which is
	//     then required: a server that does not offer it gets no password;
	//   - smtps://user:password@host:465 speaks TLS from the first byte;
	//   - smtp://host:port without a user sends in plain text, as a local
	//     relay or mailpit (smtp://127.0.0.1:1025) expects.
	// The port defaults to 587 for smtp:// with a user, 25 without, and 465
	// for smtps://. Special characters in the password are percent-encoded.
	URL string
	// From is the sender of every email (CAISSE_MAIL_FROM), such as
	// "Shop <shop@example.com>". Its domain is the host part of each
	// Message-ID when MessageIDHost is not set.
	From string
	// MessageIDHost is the host part of each email's Message-ID: the host
	// name of CAISSE_PUBLIC_URL, such as pay.example.com, which names this
	// instance of caisse; a port after it is dropped. "" uses the From
	// address's domain, with the database's id after the delivery's (see
	// Sender.SetDatabaseID).
	MessageIDHost string
	// ShopURL is the shop's site (CAISSE_SHOP_URL), such as
	// https://shop.example.com: where a customer whose payment was declined
	// can try again when the order's checkout page is no longer open. ""
	// for none.
	ShopURL string
	// ShopName is the shop's name in emails (CAISSE_SHOP_NAME), used when a
	// notice does not carry one.
	ShopName string
	// Locale is the language of customer emails whose order has no usable
	// locale of its own, and of team alerts (CAISSE_LOCALE): "fr" or "en";
	// "" means "en".
	Locale string
	// Templates is a folder whose files replace the embedded templates of
	// the same name (CAISSE_TEMPLATES); "" uses the embedded ones. See the
	// package documentation for the names.
	Templates string
	// TLSConfig is the TLS configuration for STARTTLS and smtps://; nil
	// trusts the system's certificate authorities. Its ServerName defaults
	// to the URL's host.
	TLSConfig *tls.Config
	// Timeout bounds each exchange with the mail server (connecting, each
	// command); 0 means 30 seconds.
	Timeout time.Duration
	// Now gives the time written in each email's Date header; nil means
	// time.Now.
	Now func() time.Time
}

// security is how a connection to the mail server is protected.
type security int

const (
	plainText   security = iota // no TLS: a local relay or a test server
	startTLS                    // STARTTLS required before signing in
	implicitTLS                 // TLS from the first byte (smtps://)
)

// server is where and how to reach the mail server, read from
// CAISSE_SMTP_URL.
type server struct {
	host     string
	port     int
	security security
	user     string
	password string
}

// address returns host:port.
func (s server) address() string {
	return net.JoinHostPort(s.host, strconv.Itoa(s.port))
}

// String writes the server as a URL without its password.
func (s server) String() string {
	scheme := "smtp"
	if s.security == implicitTLS {
		scheme = "smtps"
	}
	u := url.URL{Scheme: scheme, Host: s.address()}
	if s.user != "" {
		u.User = url.User(s.user)
	}
	return u.String()
}

// urlForms is what CAISSE_SMTP_URL may look like, for error messages.
const urlForms = "smtp://user:password@host:587 (STARTTLS), smtps://user:password@host:465 (TLS) or smtp://127.0.0.1:1025 (no TLS, no password)"

// parseServer reads CAISSE_SMTP_URL. Its errors never quote the URL, which
// holds the password.
func parseServer(raw string) (server, error) {
	if strings.TrimSpace(raw) == "" {
		return server{}, caisse.WithFix(errors.New("CAISSE_SMTP_URL is empty"), fmt.Sprintf("set it to %s", urlForms))
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// url.Parse's error quotes the URL, password included: say what is
		// wrong without it.
		return server{}, caisse.WithFix(errors.New("CAISSE_SMTP_URL is not a valid URL"), fmt.Sprintf("write it as %s, with special characters in the user name and password percent-encoded", urlForms))
	}
	var s server
	switch u.Scheme {
	case "smtp":
		s.security = plainText
	case "smtps":
		s.security = implicitTLS
	default:
		return server{}, caisse.WithFix(fmt.Errorf("CAISSE_SMTP_URL must start with smtp:// or smtps://, not %q", u.Scheme+":"), fmt.Sprintf("write it as %s", urlForms))
	}
	if u.Opaque != "" || u.Host == "" {
		return server{}, caisse.WithFix(errors.New("CAISSE_SMTP_URL names no host"), fmt.Sprintf("write it as %s", urlForms))
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return server{}, caisse.WithFix(errors.New("CAISSE_SMTP_URL has a path or parameters, which caisse does not use"), fmt.Sprintf("write it as %s", urlForms))
	}
	s.host = u.Hostname()
	if s.host == "" {
		return server{}, caisse.WithFix(errors.New("CAISSE_SMTP_URL names no host"), fmt.Sprintf("write it as %s", urlForms))
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
		if s.user == "" {
			return server{}, caisse.WithFix(errors.New("CAISSE_SMTP_URL has a password but no user name"), fmt.Sprintf("write it as %s", urlForms))
		}
		if s.password == "" {
			return server{}, caisse.WithFix(fmt.Errorf("CAISSE_SMTP_URL has the user name %q but no password", s.user), fmt.Sprintf("write it as %s", urlForms))
		}
		if s.security == plainText {
			// A password never crosses the network in clear.
			s.security = startTLS
		}
	}
	switch {
	case u.Port() != "":
		p, err := strconv.Atoi(u.Port())
		if err != nil || p < 1 || p > 65535 {
			return server{}, fmt.Errorf("CAISSE_SMTP_URL has the port %q, which is not a port number (1 to 65535)", u.Port())
		}
		s.port = p
	case s.security == implicitTLS:
		s.port = 465
	case s.security == startTLS:
		s.port = 587
	default:
		s.port = 25
	}
	return s, nil
}

// sender is the From of every email.
type sender struct {
	address *mail.Address
	// domain is the host part of each Message-ID.
	domain string
}

// parseFrom reads CAISSE_MAIL_FROM.
func parseFrom(raw string) (sender, error) {
	if strings.TrimSpace(raw) == "" {
		return sender{}, caisse.WithFix(errors.New(`CAISSE_MAIL_FROM is empty`), `set it to the address emails come from, such as "Shop <shop@example.com>"`)
	}
	a, err := mail.ParseAddress(raw)
	if err != nil {
		return sender{}, caisse.WithFix(fmt.Errorf(`CAISSE_MAIL_FROM %q is not an email address (%v)`, raw, err), `write it as shop@example.com or "Shop <shop@example.com>"`)
	}
	at := strings.LastIndexByte(a.Address, '@')
	domain := a.Address[at+1:]
	if at < 1 || domain == "" || strings.ContainsAny(domain, "[]<> ") {
		return sender{}, caisse.WithFix(fmt.Errorf(`CAISSE_MAIL_FROM %q has no domain name after its @`, raw), `write it as shop@example.com or "Shop <shop@example.com>"`)
	}
	return sender{address: a, domain: domain}, nil
}

// parseMessageIDHost reads Config.MessageIDHost: a host name (a port after
// it is dropped), as the right of a Message-ID takes it.
func parseMessageIDHost(raw string) (string, error) {
	h := strings.TrimSpace(raw)
	if h == "" {
		return "", nil
	}
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	// The right of a Message-ID is a dot-atom (RFC 5322): atoms of letters,
	// digits and a few signs, joined by single dots. A host name's letters,
	// digits, - and . are all caisse lets through.
	ok := h != "" && len(h) <= 253 && !strings.HasPrefix(h, ".") && !strings.HasSuffix(h, ".") && !strings.Contains(h, "..")
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			ok = false
		}
	}
	if !ok {
		return "", caisse.WithFix(fmt.Errorf("the host of CAISSE_PUBLIC_URL, %q, cannot be the host part of a Message-ID", raw), "write CAISSE_PUBLIC_URL with a host name, such as https://pay.example.com")
	}
	return strings.ToLower(h), nil
}

// parseShopURL reads CAISSE_SHOP_URL: an http or https address.
func parseShopURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err == nil && u.User != nil {
		// Not quoted: it may hold a password.
		return "", caisse.WithFix(errors.New("CAISSE_SHOP_URL has a user name or password, which customers would see"), "write it as https://shop.example.com")
	}
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", caisse.WithFix(fmt.Errorf("CAISSE_SHOP_URL %q is not the address of a site", raw), "write it as https://shop.example.com")
	}
	return u.String(), nil
}

// language returns "fr" or "en" for a locale such as fr, fr-FR, fr_CA, en or
// en-GB, and "" for any other.
func language(locale string) string {
	l := strings.ToLower(strings.TrimSpace(locale))
	if i := strings.IndexAny(l, "-_"); i >= 0 {
		l = l[:i]
	}
	switch l {
	case "fr", "en":
		return l
	}
	return ""
}

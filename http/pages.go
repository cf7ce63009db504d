package http

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/caisse/caisse"
)

// The owner's pages: server-rendered HTML from embedded templates, useful
// without JavaScript. Every page but the sign-in form needs a session, which
// the admin token opens; every POST must come from caisse's own pages
// (http.CrossOriginProtection), so no other site can make a signed-in
// browser replay or retry anything.

//go:embed pages
var pageFiles embed.FS

// sessionCookie holds a signed-in browser's session.
const sessionCookie = "caisse_session"

// sessionFor is how long a session lasts after sign-in.
const sessionFor = 12 * time.Hour

// signInRate bounds the sign-in attempts of one client: a token is guessed
// only at this pace.
var signInRate = RateLimit{Burst: 10, Window: 15 * time.Minute}

// sessionSecretLen is the length of a session's secret, the random bytes
// the browser's cookie holds (base64url).
const sessionSecretLen = 32

// sessionIDOf returns the id a session's secret is stored under: its
// SHA-256. The database holds no secret that opens a session.
func sessionIDOf(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:])
}

// tokenDigest binds a session to the admin token it was opened with: an
// HMAC of the token keyed by the session's secret, so that a changed
// CAISSE_ADMIN_TOKEN ends every session opened with the old one, and the
// table of sessions tells nothing of the token without the secrets.
func tokenDigest(secret []byte, token string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("caisse admin token\x00"))
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

// newSession opens a session in the database and returns the cookie value
// that carries it, and its expiry.
func (s *Server) newSession(ctx context.Context) (string, time.Time, error) {
	secret := make([]byte, sessionSecretLen)
	if _, err := rand.Read(secret); err != nil {
		return "", time.Time{}, fmt.Errorf("error making a session's secret: %w", err)
	}
	now := s.now()
	exp := now.Add(sessionFor).Truncate(time.Second)
	err := s.Sessions.CreateAdminSession(ctx, caisse.AdminSession{ID: sessionIDOf(secret),
		TokenDigest: tokenDigest(secret, s.AdminToken), CreatedAt: now, ExpiresAt: exp})
	if err != nil {
		return "", time.Time{}, err
	}
	return base64.RawURLEncoding.EncodeToString(secret), exp, nil
}

// signedIn is where requireSession leaves the request's session, so the
// page's rendering does not look it up again.
type signedIn struct{}

// session returns the request's session, if it has one that is open:
// stored, not expired, and opened with today's admin token. An error is
// the database's: the session could not be checked.
func (s *Server) session(r *http.Request) (*caisse.AdminSession, error) {
	if sess, ok := r.Context().Value(signedIn{}).(*caisse.AdminSession); ok {
		return sess, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	secret, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(secret) != sessionSecretLen {
		return nil, nil
	}
	sess, err := s.Sessions.FindAdminSession(r.Context(), sessionIDOf(secret))
	if caisse.ErrorCode(err) == caisse.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if !sess.ExpiresAt.After(s.now()) ||
		subtle.ConstantTimeCompare([]byte(sess.TokenDigest), []byte(tokenDigest(secret, s.AdminToken))) != 1 {
		return nil, nil
	}
	return sess, nil
}

// secure reports whether the browser reached caisse over HTTPS: directly,
// through a trusted proxy that says so, or by the public URL configured.
func (s *Server) secure(r *http.Request) bool {
	if r.TLS != nil || strings.HasPrefix(strings.ToLower(s.PublicURL), "https://") {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil && isTrusted(a.Unmap(), s.TrustedProxies) {
		return strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	}
	return false
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, exp time.Time) {
	c := &http.Cookie{Name: sessionCookie, Value: value, Path: "/admin", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.secure(r)}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = exp
		// Max-Age (which browsers prefer to Expires) counts from caisse's
		// clock, as the session's end does.
		c.MaxAge = int(exp.Sub(s.now()).Seconds())
	}
	http.SetCookie(w, c)
}

// pages returns the handler of /admin/…
func (s *Server) pages() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(pageFiles, "pages/static")
	mux.Handle("GET /admin/static/", http.StripPrefix("/admin/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /admin/signin", s.pageSignIn)
	mux.HandleFunc("POST /admin/signin", s.handleSignIn)
	mux.HandleFunc("POST /admin/signout", s.handleSignOut)
	mux.HandleFunc("POST /admin/language", s.handleLanguage)
	mux.HandleFunc("GET /admin", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
	})

	signed := http.NewServeMux()
	signed.HandleFunc("GET /admin/{$}", s.pageDashboard)
	signed.HandleFunc("GET /admin/events", s.pageEvents)
	signed.HandleFunc("GET /admin/events/{id}", s.pageEvent)
	signed.HandleFunc("POST /admin/events/{id}/replay", s.postReplay)
	signed.HandleFunc("GET /admin/replay", s.pageReplayConfirm)
	signed.HandleFunc("POST /admin/replay", s.postReplayFilter)
	signed.HandleFunc("GET /admin/orders", s.pageOrders)
	signed.HandleFunc("GET /admin/orders/{id}", s.pageOrder)
	signed.HandleFunc("POST /admin/orders/{id}/ship", s.postShip)
	signed.HandleFunc("GET /admin/orders/{id}/slip", s.pageSlip)
	signed.HandleFunc("POST /admin/orders/{id}/refund", s.postRefund)
	signed.HandleFunc("GET /admin/products", s.pageProducts)
	signed.HandleFunc("POST /admin/products/{id}", s.postProduct)
	signed.HandleFunc("POST /admin/import", s.postImport)
	signed.HandleFunc("GET /admin/deliveries", s.pageDeliveries)
	signed.HandleFunc("GET /admin/payouts", s.pagePayouts)
	signed.HandleFunc("GET /admin/payouts/{id}", s.pagePayout)
	signed.HandleFunc("GET /admin/export/sales.csv", s.pageExportSales)
	signed.HandleFunc("POST /admin/deliveries/{id}/retry", s.postRetryDelivery)
	signed.HandleFunc("POST /admin/deliveries/retry", s.postRetryFailed)
	if s.Jobs != nil {
		signed.Handle("/admin/jobs/", jobsPage(s.Jobs))
		signed.HandleFunc("GET /admin/jobs", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/admin/jobs/", http.StatusSeeOther)
		})
	}
	signed.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		s.pageError(w, r, caisse.Errorf(caisse.ENOTFOUND, "there is no page %s", r.URL.Path))
	})
	mux.Handle("/admin/", s.requireSession(signed))

	protect := http.NewCrossOriginProtection()
	protect.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Logger.Warn("refused a cross-origin request to the admin pages", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintln(w, "caisse refused this request: it came from another site. Use caisse's own pages to change anything.")
	}))
	return noFraming(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.AdminToken == "" {
			s.Error(w, r, caisse.Errorf(caisse.ENOTFOUND, "the admin pages are off: set CAISSE_ADMIN_TOKEN to turn them on"))
			return
		}
		protect.Handler(s.boundForms(mux)).ServeHTTP(w, r)
	}))
}

// requireSession answers the sign-in form to a request without a session.
func (s *Server) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.session(r)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		if sess == nil {
			s.renderSignIn(w, r, http.StatusUnauthorized, "", r.URL.RequestURI())
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), signedIn{}, sess)))
	})
}

func (s *Server) pageSignIn(w http.ResponseWriter, r *http.Request) {
	if sess, _ := s.session(r); sess != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderSignIn(w, r, http.StatusOK, "", r.URL.Query().Get("next"))
}

func (s *Server) renderSignIn(w http.ResponseWriter, r *http.Request, status int, problem, next string) {
	s.render(w, r, status, "signin", map[string]any{"Problem": problem, "Next": safeNext(next)}, "Sign in")
}

func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) {
	next := r.PostFormValue("next")
	if ok, wait := s.signIns.allow(clientOf(r, s.TrustedProxies), signInRate, s.now()); !ok {
		s.refuseSignIn(w, r, wait, next)
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if subtle.ConstantTimeCompare([]byte(token), []byte(s.AdminToken)) != 1 {
		s.Logger.Warn("a sign-in to the admin pages gave a wrong token", "remote", r.RemoteAddr)
		s.renderSignIn(w, r, http.StatusUnauthorized, tr(s.pageLanguage(r), "That is not the admin token (CAISSE_ADMIN_TOKEN). Check it and try again."), next)
		return
	}
	value, exp, err := s.newSession(r.Context())
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.setSessionCookie(w, r, value, exp)
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) {
	sess, err := s.session(r)
	if err == nil && sess != nil {
		err = s.Sessions.DeleteAdminSession(r.Context(), sess.ID)
	}
	if err != nil {
		// The session may still be open: say so rather than show the
		// owner a sign-out that did not happen.
		s.pageError(w, r, err)
		return
	}
	s.setSessionCookie(w, r, "", time.Time{})
	http.Redirect(w, r, "/admin/signin?signed_out=1", http.StatusSeeOther)
}

// safeNext keeps a redirect after sign-in within the admin pages.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/admin/"
	}
	clean := path.Clean(u.Path)
	if !strings.HasPrefix(clean, "/admin/") || clean == "/admin/signin" || clean != u.Path {
		return "/admin/"
	}
	return u.RequestURI()
}

// --- rendering ---------------------------------------------------------

// pageTemplates holds, for each language, one template set per page: the
// layout and the page, whose functions speak that language.
var pageTemplates = func() map[string]map[string]*template.Template {
	names, err := fs.Glob(pageFiles, "pages/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]map[string]*template.Template{}
	for _, lang := range []string{caisse.LangEnglish, caisse.LangFrench} {
		out[lang] = map[string]*template.Template{}
		for _, name := range names {
			page := strings.TrimSuffix(strings.TrimPrefix(name, "pages/"), ".html")
			if page == "layout" {
				continue
			}
			out[lang][page] = template.Must(template.New("layout.html").Funcs(pageFuncs(lang)).ParseFS(pageFiles, "pages/layout.html", name))
		}
	}
	return out
}()

// queryString builds "?k=v&…" from pairs, leaving out empty values.
func queryString(pairs ...any) string {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if v := fmt.Sprint(pairs[i+1]); v != "" {
			q.Set(fmt.Sprint(pairs[i]), v)
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// view is what every page's template gets.
type view struct {
	// Lang is the page's language, en or fr.
	Lang     string
	Title    string
	SignedIn bool
	Jobs     bool
	Path     string
	// Back is where the language switch returns: this page.
	Back  string
	Flash string
	Data  any
	// Bare leaves out the header and navigation: a page to print.
	Bare bool
}

// render shows a page in the request's language. title is an English
// sentence of the catalogue, with its arguments.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, data any, title string, args ...any) {
	lang := s.pageLanguage(r)
	t, ok := pageTemplates[lang][page]
	if !ok {
		panic("no page template " + page)
	}
	sess, _ := s.session(r)
	signed := sess != nil
	var buf strings.Builder
	err := t.Execute(&buf, view{Lang: lang, Title: tr(lang, title, args...), SignedIn: signed, Jobs: s.Jobs != nil,
		Path: r.URL.Path, Back: backOf(r), Flash: flash(r.URL.Query(), lang), Data: data, Bare: page == "slip"})
	if err != nil {
		s.Logger.Error("error rendering an admin page", "page", page, "error", err.Error())
		http.Error(w, "caisse could not show this page; its log says why.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
}

// flash is the message a redirect after a POST carries in its query: a
// known code and a count, never free text from the URL.
func flash(q url.Values, lang string) string {
	n := q.Get("n")
	if _, err := strconv.Atoi(n); err != nil {
		n = "0"
	}
	switch q.Get("done") {
	case "replayed":
		return tr(lang, "Replayed %s event(s): caisse is processing them again.", n)
	case "retried":
		return tr(lang, "Retrying %s delivery(ies).", n)
	case "saved":
		return tr(lang, "Saved.")
	case "refund":
		return tr(lang, "Refund asked of Stripe: the order shows it refunded once Stripe's events confirm it.")
	case "imported":
		return tr(lang, "Imported %s product(s).", n)
	case "shipped":
		return tr(lang, "Shipment recorded: the buyer is told.")
	}
	if q.Get("signed_out") != "" {
		return tr(lang, "You are signed out.")
	}
	return ""
}

// pageError shows an error as a page, with the status the API would answer.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	status, _, msg := s.failure(r, err)
	s.render(w, r, status, "error", map[string]any{"Status": status, "Message": msg}, "Error")
}

// redirect answers a POST with the page to show next and its flash.
func redirect(w http.ResponseWriter, r *http.Request, path string, pairs ...any) {
	http.Redirect(w, r, path+queryString(pairs...), http.StatusSeeOther)
}

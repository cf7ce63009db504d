package http

import (
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
	"sync"
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

// sessions remembers the sessions signed out before they expire, so a
// copied cookie stops working when its owner signs out.
type sessions struct {
	mu      sync.Mutex
	revoked map[string]time.Time // session id → when it would have expired
}

func (ss *sessions) revoke(id string, until, now time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.revoked == nil {
		ss.revoked = map[string]time.Time{}
	}
	for k, exp := range ss.revoked {
		if !exp.After(now) {
			delete(ss.revoked, k)
		}
	}
	ss.revoked[id] = until
}

func (ss *sessions) isRevoked(id string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	_, ok := ss.revoked[id]
	return ok
}

// sessionKey signs session cookies. It derives from the admin token, so
// every instance of caisse accepts the same sessions and changing the token
// ends them all.
func (s *Server) sessionKey() []byte {
	m := hmac.New(sha256.New, []byte(s.AdminToken))
	m.Write([]byte("caisse admin session v1"))
	return m.Sum(nil)
}

func (s *Server) signSession(payload string) string {
	m := hmac.New(sha256.New, s.sessionKey())
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newSession returns a cookie value "id.expiry.signature" and its expiry.
func (s *Server) newSession() (string, time.Time) {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	exp := s.now().Add(sessionFor).Truncate(time.Second)
	payload := hex.EncodeToString(id) + "." + strconv.FormatInt(exp.Unix(), 10)
	return payload + "." + s.signSession(payload), exp
}

// session returns the id and expiry of the request's session, if it has a
// valid one.
func (s *Server) session(r *http.Request) (string, time.Time, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", time.Time{}, false
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 {
		return "", time.Time{}, false
	}
	payload := parts[0] + "." + parts[1]
	if subtle.ConstantTimeCompare([]byte(parts[2]), []byte(s.signSession(payload))) != 1 {
		return "", time.Time{}, false
	}
	unix, err := strconv.ParseInt(parts[1], 10, 64)
	exp := time.Unix(unix, 0)
	if err != nil || !exp.After(s.now()) || s.sessions.isRevoked(parts[0]) {
		return "", time.Time{}, false
	}
	return parts[0], exp, true
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
		c.MaxAge = int(time.Until(exp).Seconds())
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
	signed.HandleFunc("GET /admin/products", s.pageProducts)
	signed.HandleFunc("POST /admin/products/{id}", s.postProduct)
	signed.HandleFunc("POST /admin/import", s.postImport)
	signed.HandleFunc("GET /admin/deliveries", s.pageDeliveries)
	signed.HandleFunc("POST /admin/deliveries/{id}/retry", s.postRetryDelivery)
	signed.HandleFunc("POST /admin/deliveries/retry", s.postRetryFailed)
	if s.Jobs != nil {
		signed.Handle("/admin/jobs/", s.Jobs)
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
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.AdminToken == "" {
			s.Error(w, r, caisse.Errorf(caisse.ENOTFOUND, "the admin pages are off: set CAISSE_ADMIN_TOKEN to turn them on"))
			return
		}
		protect.Handler(s.boundForms(mux)).ServeHTTP(w, r)
	})
}

// requireSession answers the sign-in form to a request without a session.
func (s *Server) requireSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := s.session(r); !ok {
			s.renderSignIn(w, r, http.StatusUnauthorized, "", r.URL.RequestURI())
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) pageSignIn(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := s.session(r); ok {
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
	value, exp := s.newSession()
	s.setSessionCookie(w, r, value, exp)
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) {
	if id, exp, ok := s.session(r); ok {
		s.sessions.revoke(id, exp, s.now())
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
}

// render shows a page in the request's language. title is an English
// sentence of the catalogue, with its arguments.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, data any, title string, args ...any) {
	lang := s.pageLanguage(r)
	t, ok := pageTemplates[lang][page]
	if !ok {
		panic("no page template " + page)
	}
	_, _, signed := s.session(r)
	var buf strings.Builder
	err := t.Execute(&buf, view{Lang: lang, Title: tr(lang, title, args...), SignedIn: signed, Jobs: s.Jobs != nil,
		Path: r.URL.Path, Back: backOf(r), Flash: flash(r.URL.Query(), lang), Data: data})
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
	case "imported":
		return tr(lang, "Imported %s product(s).", n)
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

package http

import (
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The pages' forms are read within bounds, before anything else looks at
// them: a form is small and url-encoded; only the catalogue import uploads a
// file (multipart/form-data), which is read part by part from memory, never
// spooled to a temporary file. A body of the wrong type is refused before a
// byte of it is read, and one announced larger than its route takes as well.

// formMax bounds the body of every form of the pages but the import: the
// sign-in's token and return address, a product's fields, a replay filter.
const formMax = 8 << 10

// DefaultImportMax is the largest catalogue file the pages import when
// CAISSE_IMPORT_MAX is not set.
const DefaultImportMax = 10 << 20

// jobsFormMax bounds what River's jobs page posts to its API (JSON).
const jobsFormMax = 1 << 20

// importTime is how long an import's request may take, reading the file and
// writing the products included: longer than the server's write timeout,
// which would otherwise cut a large import's answer off while the import
// goes on unseen.
const importTime = 5 * time.Minute

const (
	formURLEncoded = "application/x-www-form-urlencoded"
	formMultipart  = "multipart/form-data"
)

func (s *Server) importMax() int64 {
	if s.ImportMax > 0 {
		return s.ImportMax
	}
	return DefaultImportMax
}

// importBodyMax bounds the body of POST /admin/import: the file itself, or
// the previewed file carried back in base64 (a third larger) to be applied,
// with room for the other fields.
func (s *Server) importBodyMax() int64 {
	return s.importMax()*4/3 + 4 + formMax
}

// boundForms refuses a POST to the pages whose body is of the wrong type or
// too large, and reads the url-encoded form of the others within its bound,
// so that no handler reads more. A sign-in from a client past its limit is
// refused before its body is read.
func (s *Server) boundForms(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/admin/jobs/") {
			// River's jobs page posts JSON to its own API, behind the session.
			r.Body = http.MaxBytesReader(w, r.Body, jobsFormMax)
			next.ServeHTTP(w, r)
			return
		}
		limit, upload := int64(formMax), false
		if r.URL.Path == "/admin/import" {
			limit, upload = s.importBodyMax(), true
			// Reading a large file and writing its products may take longer
			// than the server's timeouts, which are for every other request.
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Now().Add(importTime))
			_ = rc.SetWriteDeadline(time.Now().Add(importTime))
		}
		kind := ""
		if ct := r.Header.Get("Content-Type"); ct != "" {
			kind, _, _ = mime.ParseMediaType(ct)
		}
		switch {
		case kind == formURLEncoded:
		case kind == formMultipart && upload:
		case kind == "" && r.ContentLength == 0:
			// A form without fields, posted without a body.
		default:
			lang, got := s.pageLanguage(r), strconv.Quote(r.Header.Get("Content-Type"))
			msg := tr(lang, "caisse's forms are sent as application/x-www-form-urlencoded, not %s: use the form of caisse's own page.", got)
			if upload {
				msg = tr(lang, "A catalogue file is sent as multipart/form-data, and its preview as application/x-www-form-urlencoded, not %s: use the import form of the products page.", got)
			}
			s.Logger.Warn("refused a form of the admin pages: wrong Content-Type", "path", r.URL.Path, "content_type", got, "remote", r.RemoteAddr)
			s.refuseForm(w, r, http.StatusUnsupportedMediaType, "unsupported_media_type", msg)
			return
		}
		if r.URL.Path == "/admin/signin" {
			if limited, wait := s.signIns.blocked(clientOf(r, s.TrustedProxies), signInRate, s.now()); limited {
				s.refuseSignIn(w, r, wait, r.URL.Query().Get("next"))
				return
			}
		}
		if r.ContentLength > limit {
			s.refuseTooLarge(w, r, limit, r.ContentLength)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if kind == formURLEncoded {
			if err := r.ParseForm(); err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					s.refuseTooLarge(w, r, limit, -1)
					return
				}
				s.refuseForm(w, r, http.StatusBadRequest, "invalid_form", tr(s.pageLanguage(r), "caisse could not read this form: send it again from caisse's own page."))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// refuseTooLarge answers 413 to a form over its bound; size is the body's
// length when it was announced, else -1.
func (s *Server) refuseTooLarge(w http.ResponseWriter, r *http.Request, limit, size int64) {
	s.Logger.Warn("refused a form of the admin pages: its body is too large", "path", r.URL.Path, "limit", limit,
		"content_length", size, "remote", r.RemoteAddr)
	lang := s.pageLanguage(r)
	var msg string
	if r.URL.Path == "/admin/import" {
		msg = importTooLarge(lang, s.importMax(), size)
	} else {
		msg = tr(lang, "This form is larger than caisse's forms ever are (%s): send it again from caisse's own page.", sizeSaid(limit))
	}
	s.refuseForm(w, r, http.StatusRequestEntityTooLarge, "too_large", msg)
}

// importTooLarge says that a catalogue file is over the import's bound and
// what to do; size is the file's size, or the request's, or -1 if unknown.
func importTooLarge(lang string, limit, size int64) string {
	if size > 0 {
		return tr(lang, "The catalogue file is %s, over the %s the pages import (CAISSE_IMPORT_MAX): nothing was imported. Import it with `caisse products import FILE`, which has no such limit, split it, or raise CAISSE_IMPORT_MAX.", sizeSaid(size), sizeSaid(limit))
	}
	return tr(lang, "The catalogue file is over the %s the pages import (CAISSE_IMPORT_MAX): nothing was imported. Import it with `caisse products import FILE`, which has no such limit, split it, or raise CAISSE_IMPORT_MAX.", sizeSaid(limit))
}

// sizeSaid writes a number of bytes for people: 8 KiB, 10 MiB, 12.5 MiB.
func sizeSaid(n int64) string {
	switch {
	case n >= 1<<20:
		return strings.TrimSuffix(strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64), ".0") + " MiB"
	case n >= 1<<10:
		return strings.TrimSuffix(strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64), ".0") + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// refuseForm shows a refused form's error page with its status, counted as
// the API counts its errors.
func (s *Server) refuseForm(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	// What is left of the body is not read: the connection closes after
	// this answer, where Go's server would otherwise read on to reuse it.
	w.Header().Set("Connection", "close")
	s.Metrics.Errors.WithLabelValues(code).Inc()
	s.render(w, r, status, "error", map[string]any{"Status": status, "Message": msg}, "Error")
}

// refuseSignIn answers a sign-in from a client past its limit: 429, with
// when to try again.
func (s *Server) refuseSignIn(w http.ResponseWriter, r *http.Request, wait time.Duration, next string) {
	s.Logger.Warn("refused a sign-in to the admin pages: too many attempts", "remote", r.RemoteAddr)
	w.Header().Set("Connection", "close") // its body is not read, as in refuseForm
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
	s.renderSignIn(w, r, http.StatusTooManyRequests,
		tr(s.pageLanguage(r), "Too many sign-in attempts from your address: try again in %s.", wait.Round(time.Second)+time.Second), next)
}

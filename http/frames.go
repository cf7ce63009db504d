package http

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
)

// noFraming forbids every browser to show an answer inside another site's
// frame (clickjacking): X-Frame-Options for older browsers, the CSP's
// frame-ancestors for the others. It covers every answer under /admin/ and
// /api/admin/ — River's jobs UI, its assets and API, redirects and errors
// included. The pages caisse renders replace this CSP with their own,
// stricter one, which forbids frames too.
func noFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

// jobsBackLink is the way back to caisse's pages that the jobs page shows:
// a small link pinned to the corner of River's UI, outside the element its
// scripts draw in, styled inline so it needs nothing from caisse's style
// sheet.
const jobsBackLink = `<a id="caisse-back" href="/admin/" title="caisse" style="position:fixed;left:50%;bottom:12px;transform:translateX(-50%);` +
	`z-index:2147483647;padding:6px 14px;border-radius:999px;background:#1f2937;color:#fff;font:600 13px/1.4 system-ui,sans-serif;` +
	`text-decoration:none;box-shadow:0 1px 4px rgba(0,0,0,.35)">&larr; caisse</a>`

// jobsPage serves River's UI with a way back to caisse's pages. River's UI
// is a single page of scripts that caisse cannot change: River answers its
// one HTML page (an index, the same for every path of the UI) from a
// template of its own. Framing River in a page of caisse's would need River
// to allow frames, which no admin page does; so the link is added to that
// one HTML answer, right after <body>, outside the element River's scripts
// own. Every other answer (scripts, styles, the JSON API) passes through
// untouched and unbuffered. Should a River release change its page so that
// it has no <body> tag, the page is served as River made it.
func jobsPage(river http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pw := &pageWriter{ResponseWriter: w}
		river.ServeHTTP(pw, r)
		pw.finish()
	})
}

// pageWriter holds back an HTML answer of River's to add the link to it,
// and passes any other answer through as it is written.
type pageWriter struct {
	http.ResponseWriter
	status  int  // the status River wrote, once it wrote one
	holding bool // an HTML page is being held back
	page    bytes.Buffer
}

func (pw *pageWriter) WriteHeader(status int) {
	if pw.status != 0 {
		return
	}
	pw.status = status
	ct := pw.Header().Get("Content-Type")
	if status == http.StatusOK && strings.HasPrefix(ct, "text/html") {
		pw.holding = true
		return
	}
	pw.ResponseWriter.WriteHeader(status)
}

func (pw *pageWriter) Write(b []byte) (int, error) {
	if pw.status == 0 {
		pw.WriteHeader(http.StatusOK)
	}
	if pw.holding {
		return pw.page.Write(b)
	}
	return pw.ResponseWriter.Write(b)
}

// Flush passes a flush on for answers that are not held back (River's API
// does not stream today; this keeps it working should it).
func (pw *pageWriter) Flush() {
	if f, ok := pw.ResponseWriter.(http.Flusher); ok && !pw.holding {
		f.Flush()
	}
}

// finish writes the page held back, with the link.
func (pw *pageWriter) finish() {
	if !pw.holding {
		return
	}
	page := pw.page.Bytes()
	if i := bytes.Index(page, []byte("<body")); i >= 0 {
		if j := bytes.IndexByte(page[i:], '>'); j >= 0 {
			at := i + j + 1
			page = append(page[:at:at], append([]byte(jobsBackLink), page[at:]...)...)
			h := pw.Header()
			h.Set("Content-Length", strconv.Itoa(len(page)))
			h.Set("Cache-Control", "no-store")
		}
	}
	pw.ResponseWriter.WriteHeader(pw.status)
	_, _ = pw.ResponseWriter.Write(page)
}

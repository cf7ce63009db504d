package main

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The forms of the admin pages read a bounded body of the right type, and
// nothing else: a stranger's huge sign-in costs caisse no memory and no disk.

// zeros is an endless body that holds no memory: it reads as many 'a's as
// asked, until n bytes were read.
type zeros struct{ n, sent int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.sent >= z.n {
		return 0, io.EOF
	}
	k := min(int64(len(p)), z.n-z.sent)
	for i := range p[:k] {
		p[i] = 'a'
	}
	z.sent += k
	return int(k), nil
}

// procStatus reads a field of /proc/PID/status, in KiB (VmRSS, VmHWM).
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// A sign-in body of 256 MiB, of every shape (multipart with a file,
// url-encoded, announced or chunked), sent to a real `caisse serve`: each is
// answered 413 or 415 without being read, the process's resident memory
// never grows by more than 50 MiB (its peak, VmHWM, against its resident
// memory before), and nothing is ever written to its temporary folder.
func TestSignInBodyIsBounded(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	in := startInstance(t, "sqlite:"+t.TempDir()+"/caisse.db", "TMPDIR="+tmp)
	pid := in.cmd.Process.Pid
	// A few ordinary requests first, so the baseline is a serving caisse.
	for range 3 {
		resp, err := http.PostForm(in.url+"/admin/signin", url.Values{"token": {"wrong-token-0000000000"}})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	baseline := procStatus(t, pid, "VmRSS")

	// Watch the temporary folder while the bodies are sent.
	var spooled atomic.Value
	stop, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		for {
			if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
				spooled.Store(entries[0].Name())
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	const size = 256 << 20
	const head, tail = "--b\r\nContent-Disposition: form-data; name=\"token\"; filename=\"t\"\r\n\r\n", "\r\n--b--\r\n"
	multipartBody := func() io.Reader {
		return io.MultiReader(strings.NewReader(head), &zeros{n: size}, strings.NewReader(tail))
	}
	cases := []struct {
		name, contentType string
		body              func() io.Reader
		announced         bool
		want              int
	}{
		{"multipart, announced", "multipart/form-data; boundary=b", multipartBody, true, http.StatusUnsupportedMediaType},
		{"multipart, chunked", "multipart/form-data; boundary=b", multipartBody, false, http.StatusUnsupportedMediaType},
		{"url-encoded, announced", "application/x-www-form-urlencoded", func() io.Reader { return &zeros{n: size} }, true, http.StatusRequestEntityTooLarge},
		{"url-encoded, chunked", "application/x-www-form-urlencoded", func() io.Reader { return &zeros{n: size} }, false, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		body := tc.body()
		req, _ := http.NewRequest(http.MethodPost, in.url+"/admin/signin", body)
		req.Header.Set("Content-Type", tc.contentType)
		if tc.announced {
			req.ContentLength = size
			if strings.HasPrefix(tc.contentType, "multipart/") {
				req.ContentLength = int64(len(head)) + size + int64(len(tail))
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: answered %d, want %d:\n%.400s", tc.name, resp.StatusCode, tc.want, page)
		}
		if !strings.Contains(string(page), "caisse") || !strings.Contains(string(page), "form") {
			t.Errorf("%s: the page does not say what went wrong:\n%.400s", tc.name, page)
		}
	}
	close(stop)
	<-watched
	if name := spooled.Load(); name != nil {
		t.Errorf("caisse wrote %s in its temporary folder while a sign-in was sent", name)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
		t.Errorf("caisse left %d file(s) in its temporary folder", len(entries))
	}
	peak := procStatus(t, pid, "VmHWM")
	t.Logf("resident memory: %d KiB before, peak %d KiB after four 256 MiB sign-ins (+%d KiB)", baseline, peak, peak-baseline)
	if peak-baseline > 50<<10 {
		t.Errorf("caisse's resident memory peaked at %d KiB, %d KiB over the %d KiB before the sign-ins: a sign-in's body must not be held", peak, peak-baseline, baseline)
	}
	// caisse still signs in.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(in.url+"/admin/signin", url.Values{"token": {testToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the right token then answered %d", resp.StatusCode)
	}
	if strings.Contains(in.logs.String(), "wrong-token-0000000000") {
		t.Fatal("a guessed token reached the logs")
	}
}

// Sign-in attempts are limited per client, before the form is read: ten
// from one client in 15 minutes, then 429 with Retry-After and a page that
// says so, even for the right token, until the bucket gives back an
// attempt (one every 90 s); a client behind the same trusted proxy is not
// affected.
func TestSignInLimit(t *testing.T) {
	t.Parallel()
	a := setup(t, sqliteDB, func(env map[string]string) {
		env["CAISSE_TRUSTED_PROXIES"] = "127.0.0.1/32"
		env[testClock] = ""
	})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	signIn := func(client, token string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, a.url+"/admin/signin", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", client)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		page, _ := io.ReadAll(resp.Body)
		return resp, string(page)
	}
	for i := range 10 {
		if resp, _ := signIn("203.0.113.7", "wrong-token-guess-0000"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token %d answered %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp, page := signIn("203.0.113.7", "wrong-token-guess-0000")
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(page, "Too many sign-in attempts from your address") {
		t.Fatalf("the 11th wrong token answered %d:\n%.400s", resp.StatusCode, page)
	}
	if wait, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || wait < 1 || wait > 91 {
		t.Fatalf("Retry-After %q, want the seconds until an attempt is back (at most 91)", resp.Header.Get("Retry-After"))
	}
	if resp, _ := signIn("203.0.113.7", testToken); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the right token from the limited client answered %d, want 429", resp.StatusCode)
	}
	if resp, _ := signIn("198.51.100.9", testToken); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("another client's right token answered %d, want 303", resp.StatusCode)
	}

	// A limited client is answered before its body is read: the answer
	// comes while the body is still being sent.
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte("token=" + testToken + "&next="))
	req, _ := http.NewRequest(http.MethodPost, a.url+"/admin/signin", pr)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	answered := make(chan int, 1)
	go func() {
		resp, err := noRedirect.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	select {
	case status := <-answered:
		if status != http.StatusTooManyRequests {
			t.Fatalf("a limited client's unfinished sign-in answered %d, want 429", status)
		}
	case <-time.After(15 * time.Second): // a safety net: caisse's read timeout is 30 s
		t.Fatal("a limited client's sign-in was not answered while its body was still coming: caisse reads the form before the limit")
	}

	// An attempt is back after 90 s: the right token signs in again.
	a.clock.advance(91 * time.Second)
	if resp, _ := signIn("203.0.113.7", testToken); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the right token after the window gave an attempt back answered %d, want 303", resp.StatusCode)
	}
}

// A form of the wrong type is refused with 415 before it is read and
// changes nothing; a form over its bound is refused with 413.
func TestFormsRefuseTheWrongContentType(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) { testFormsRefuseTheWrongContentType(t, db) })
}

func testFormsRefuseTheWrongContentType(t *testing.T, db testDB) {
	a := setup(t, db)
	a.putProduct("tee", 3)
	c, _ := signedInClient(t, a)
	post := func(client *http.Client, path, contentType string, body io.Reader) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, a.url+path, body)
		req.Header.Set("Content-Type", contentType)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		page, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(page)
	}
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("stock", "99")
	mw.Close()
	for _, tc := range []struct {
		path, contentType, body string
	}{
		{"/admin/products/tee", "application/json", `{"stock":"99"}`},
		{"/admin/products/tee", mw.FormDataContentType(), mp.String()},
		{"/admin/products/tee", "text/plain", "stock=99"},
		{"/admin/signin", mw.FormDataContentType(), mp.String()},
		{"/admin/language", "application/json", `{"lang":"fr"}`},
		{"/admin/import", "application/json", `[{"id":"tee","stock":99}]`},
	} {
		status, page := post(c, tc.path, tc.contentType, strings.NewReader(tc.body))
		if status != http.StatusUnsupportedMediaType || !strings.Contains(page, "application/x-www-form-urlencoded") {
			t.Errorf("%s as %s answered %d, want 415 naming the form's type:\n%.400s", tc.path, tc.contentType, status, page)
		}
	}
	if p := a.product("tee"); p.Stock != 3 {
		t.Fatalf("a refused form changed the stock to %d", p.Stock)
	}
	// Within the form's bound the same edit works.
	if status, _ := post(c, "/admin/products/tee", "application/x-www-form-urlencoded", strings.NewReader("stock=4&stock_was=3")); status != http.StatusOK {
		t.Fatalf("the product form answered %d", status)
	}
	if p := a.product("tee"); p.Stock != 4 {
		t.Fatalf("the product form set the stock to %d, want 4", p.Stock)
	}
	// A sign-in form over 8 KiB, announced or not.
	big := "token=" + strings.Repeat("x", 9<<10)
	for _, body := range []io.Reader{strings.NewReader(big), io.MultiReader(strings.NewReader(big))} {
		status, page := post(http.DefaultClient, "/admin/signin", "application/x-www-form-urlencoded", body)
		if status != http.StatusRequestEntityTooLarge || !strings.Contains(page, "8 KiB") {
			t.Errorf("a 9 KiB sign-in answered %d, want 413 saying the bound:\n%.400s", status, page)
		}
	}
	if strings.Contains(a.logs.String(), strings.Repeat("x", 100)) {
		t.Fatal("a refused form's body reached the logs")
	}
}

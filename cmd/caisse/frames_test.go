package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/caisse/caisse/internal/poll"
	"github.com/caisse/caisse/stripe"
)

// framingRefused reports what is wrong with an answer's headers for a page
// no other site may frame, or "".
func framingRefused(h http.Header) string {
	if xfo, csp := h.Get("X-Frame-Options"), h.Get("Content-Security-Policy"); xfo != "DENY" || !strings.Contains(csp, "frame-ancestors 'none'") {
		return fmt.Sprintf("X-Frame-Options %q, Content-Security-Policy %q", xfo, csp)
	}
	return ""
}

// Every answer under /admin/ and /api/admin/ forbids framing: caisse's
// pages, River's jobs UI with its assets and API, redirects, errors and
// the sign-in form; and River's page has a way back to caisse's.
func TestAdminAnswersForbidFrames(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.putProduct("tee", 2)
		a.wait(a.send(stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "tee"}))
		c, _ := signedInClient(t, a)
		noRedirect := *c
		noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

		// River's page, and the assets it names.
		status, index := get(t, c, a.url+"/admin/jobs/")
		if status != http.StatusOK || !strings.Contains(index, `id="root"`) {
			t.Fatalf("/admin/jobs/ answered %d:\n%s", status, index)
		}
		if !regexp.MustCompile(`<body[^>]*><a id="caisse-back" href="/admin/"`).MatchString(index) {
			t.Fatalf("River's page has no way back to caisse's pages:\n%s", index)
		}
		assets := regexp.MustCompile(`(?:src|href)="(/admin/jobs/[^"]+)"`).FindAllStringSubmatch(index, -1)
		if len(assets) < 3 {
			t.Fatalf("River's page names %d assets:\n%s", len(assets), index)
		}

		type ask struct {
			method, path string
			client       *http.Client
			header       []string
			want         int
		}
		asks := []ask{
			{"GET", "/admin/", &noRedirect, nil, 200},
			{"GET", "/admin", &noRedirect, nil, 303},
			{"GET", "/admin/events", &noRedirect, nil, 200},
			{"GET", "/admin/orders", &noRedirect, nil, 200},
			{"GET", "/admin/orders/o1", &noRedirect, nil, 200},
			{"GET", "/admin/orders/nope", &noRedirect, nil, 404},
			{"GET", "/admin/products", &noRedirect, nil, 200},
			{"GET", "/admin/deliveries", &noRedirect, nil, 200},
			{"GET", "/admin/replay?status=failed", &noRedirect, nil, 200},
			{"GET", "/admin/static/style.css", &noRedirect, nil, 200},
			{"GET", "/admin/jobs", &noRedirect, nil, 303},
			{"GET", "/admin/jobs/", &noRedirect, nil, 200},
			{"HEAD", "/admin/jobs/", &noRedirect, nil, 200},
			{"GET", "/admin/jobs/jobs?state=completed", &noRedirect, nil, 200},
			{"GET", "/admin/jobs/api/jobs?state=completed", &noRedirect, []string{"Accept", "application/json"}, 200},
			{"GET", "/admin/jobs/api/queues", &noRedirect, []string{"Accept", "application/json"}, 200},
			{"GET", "/admin/jobs/api/states", &noRedirect, []string{"Accept", "application/json"}, 200},
			{"GET", "/admin/jobs/favicon.ico", &noRedirect, nil, 200},
			{"GET", "/admin/orders", http.DefaultClient, nil, 401},
			{"GET", "/admin/jobs/", http.DefaultClient, nil, 401},
			{"GET", "/admin/jobs/api/jobs", http.DefaultClient, nil, 401},
			{"GET", "/admin/signin", http.DefaultClient, nil, 200},
			{"POST", "/admin/signout", &noRedirect, []string{"Origin", "https://evil.example"}, 403},
			{"GET", "/api/admin/orders", http.DefaultClient, []string{"Authorization", "Bearer " + testToken}, 200},
			{"GET", "/api/admin/orders", http.DefaultClient, nil, 401},
		}
		for _, m := range assets {
			asks = append(asks, ask{"GET", m[1], &noRedirect, nil, 200})
		}
		for _, q := range asks {
			req, _ := http.NewRequest(q.method, a.url+q.path, nil)
			for i := 0; i+1 < len(q.header); i += 2 {
				req.Header.Set(q.header[i], q.header[i+1])
			}
			resp, err := q.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != q.want {
				t.Errorf("%s %s answered %d, want %d", q.method, q.path, resp.StatusCode, q.want)
			}
			if problem := framingRefused(resp.Header); problem != "" {
				t.Errorf("%s %s (%d) may be framed: %s", q.method, q.path, resp.StatusCode, problem)
			}
			if strings.HasSuffix(q.path, ".js") && !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
				t.Errorf("%s is served as %q", q.path, resp.Header.Get("Content-Type"))
			}
		}
		// Pages of caisse keep their own, stricter policy.
		resp, err := c.Get(a.url + "/admin/orders/o1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("an order's page lost its policy: %q", csp)
		}

		// With the admin pages off, their 404s forbid framing too.
		off := setup(t, db, func(env map[string]string) { delete(env, "CAISSE_ADMIN_TOKEN") })
		resp, err = http.Get(off.url + "/admin/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if problem := framingRefused(resp.Header); resp.StatusCode != http.StatusNotFound || problem != "" {
			t.Errorf("/admin/ with the pages off answered %d: %s", resp.StatusCode, problem)
		}
	})
}

// frames returns the URL each frame of the browser's page shows, and the
// URL it could not show (an error page's), by the frame's name.
func frames(t *testing.T, ctx context.Context) map[string][2]string {
	t.Helper()
	res, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (page.GetFrameTreeResult, error) {
		return cdp.Call(ctx, tg, page.GetFrameTree, cdp.Empty{})
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]string{}
	var walk func(ft *page.FrameTree)
	walk = func(ft *page.FrameTree) {
		out[ft.Frame.Name] = [2]string{ft.Frame.URL, ft.Frame.UnreachableURL}
		for _, c := range ft.ChildFrames {
			walk(c)
		}
	}
	walk(res.FrameTree)
	return out
}

// In a real browser, signed in: another site that frames the dashboard and
// the jobs page shows neither; the jobs page itself shows River's UI and
// leads back to caisse's pages.
func TestAdminPagesCannotBeFramed(t *testing.T) {
	t.Parallel()
	a := setup(t, sqliteDB)
	ctx := browser(t)
	signIn(t, ctx, a, testToken)
	if got := text(t, ctx, "h1"); got != "Dashboard" {
		t.Fatalf("after sign-in the page is %q", got)
	}

	t.Run("the jobs page leads back", func(t *testing.T) {
		load(t, ctx, chromedp.Click(chromedp.CSS(`header nav a[href="/admin/jobs/"]`)))
		// River's scripts draw its UI inside #root.
		text(t, ctx, "#root a")
		if got := text(t, ctx, "#caisse-back"); !strings.Contains(got, "caisse") {
			t.Fatalf("the way back reads %q", got)
		}
		screenshot(t, ctx, "jobs.png")
		load(t, ctx, chromedp.Click(chromedp.CSS("#caisse-back")))
		if got := text(t, ctx, "h1"); got != "Dashboard" {
			t.Fatalf("the way back from the jobs page leads to %q", got)
		}
	})

	t.Run("another site frames nothing", func(t *testing.T) {
		// Another origin (another port of the same host: the same site, so
		// the browser even sends the session cookie along).
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/control" {
				fmt.Fprint(w, `<!doctype html><p>a page that may be framed</p>`)
				return
			}
			fmt.Fprintf(w, `<!doctype html><p>win a prize</p>
<iframe name="dashboard" src="%[1]s/admin/"></iframe>
<iframe name="jobs" src="%[1]s/admin/jobs/"></iframe>
<iframe name="control" src="/control"></iframe>`, a.url)
		}))
		defer evil.Close()
		// A frame the browser does show, from the same evil site: the
		// test sees frames load at all.
		load(t, ctx, chromedp.Navigate(evil.URL))
		// The browser loads the frames in its own time: ask it what they
		// show until all three show something.
		var fr map[string][2]string
		poll.UntilEvery(t, time.Minute, 50*time.Millisecond, func() error {
			fr = frames(t, ctx)
			for _, name := range []string{"dashboard", "jobs", "control"} {
				if u := fr[name]; u[0] == "" || u[0] == "about:blank" {
					return fmt.Errorf("the frames did not load: %v", fr)
				}
			}
			return nil
		})
		if u := fr["control"]; u[0] != evil.URL+"/control" || u[1] != "" {
			t.Fatalf("the control frame shows %q (unreachable %q)", u[0], u[1])
		}
		for name, path := range map[string]string{"dashboard": "/admin/", "jobs": "/admin/jobs/"} {
			// The browser shows an error page in the frame's place.
			if u := fr[name]; strings.HasPrefix(u[0], a.url) || u[1] != a.url+path {
				t.Errorf("the %s frame shows %q (could not show %q): caisse's page in another site's frame", name, u[0], u[1])
			}
		}
	})
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/stripe"
)

// The admin pages, driven in a real browser: Debian's chromium, found at
// /usr/bin/chromium or at $CAISSE_TEST_CHROMIUM. Set CAISSE_TEST_CHROMIUM
// (as .ci/run does) to make a missing browser a failure instead of a skip.
// With CAISSE_SCREENSHOTS=DIR the screenshots the README shows are written
// there (see "Admin pages" in the README); otherwise into a temporary folder.

// browser starts a headless chromium for one test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, required := os.Getenv("CAISSE_TEST_CHROMIUM"), true
	if path == "" {
		path, required = "/usr/bin/chromium", false
	}
	if _, err := os.Stat(path); err != nil {
		if required {
			t.Fatalf("CAISSE_TEST_CHROMIUM=%s: %v", path, err)
		}
		t.Skip("the browser tests need chromium at /usr/bin/chromium: install it with `apt-get install -y chromium` (or set CAISSE_TEST_CHROMIUM to its path)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1200, 820),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium at %s: %v", path, err)
	}
	return ctx
}

// browse runs browser actions, failing the test on error.
func browse(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// load runs steps that make the browser load a page (a link followed, a
// form sent), waits for that page and returns its HTTP status.
func load(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Status
}

// browserCookies returns the cookies the browser would send to u.
func browserCookies(t *testing.T, ctx context.Context, u string) []*network.Cookie {
	t.Helper()
	res, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Cookies
}

// text returns the text of the first element matching sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	browse(t, ctx, chromedp.WaitVisible(chromedp.CSS(sel)))
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// screenshot saves what the browser shows as a PNG and checks it is one.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("CAISSE_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot %s: not a PNG (%d bytes)", name, len(png))
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func signIn(t *testing.T, ctx context.Context, a *app, token string) {
	t.Helper()
	load(t, ctx, chromedp.Navigate(a.url+"/admin/"))
	browse(t, ctx, chromedp.SendKeys(chromedp.CSS("#token"), token))
	load(t, ctx, chromedp.Click(chromedp.CSS("#signin-button")))
}

func TestAdminPagesInBrowser(t *testing.T) {
	a := setup(t, sqliteDB)
	ctx := browser(t)

	// A sale of the gallery's one print, paid: the order's timeline.
	a.putProduct("print-1", 1)
	paidEvent := a.send(stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "print-1",
		Amount: 2000, Currency: "eur", Email: "buyer@example.com"})
	refundEvent := a.send(stripe.Example{Type: "charge.refunded", OrderID: "o1", ProductID: "print-1",
		Amount: 2000, Refunded: 2000, Currency: "eur"})
	for id, s := range a.wait(paidEvent, refundEvent) {
		if s != caisse.EventProcessed {
			t.Fatalf("event %s is %s", id, s)
		}
	}

	t.Run("sign in", func(t *testing.T) {
		if status := load(t, ctx, chromedp.Navigate(a.url+"/admin/orders/o1")); status != http.StatusUnauthorized {
			t.Fatalf("an order's page without a session answered %d", status)
		}
		text(t, ctx, "#signin")
		signIn(t, ctx, a, "not-the-admin-token-at-all")
		if got := text(t, ctx, "#problem"); !strings.Contains(got, "not the admin token") {
			t.Fatalf("a wrong token shows %q", got)
		}
		signIn(t, ctx, a, testToken)
		if got := text(t, ctx, "h1"); got != "Dashboard" {
			t.Fatalf("after sign-in the page is %q", got)
		}
		cookies := browserCookies(t, ctx, a.url+"/admin/")
		if len(cookies) != 1 || cookies[0].Name != "caisse_session" || !cookies[0].HTTPOnly ||
			cookies[0].SameSite != network.CookieSameSiteStrict || cookies[0].Expires <= float64(time.Now().Unix()) {
			t.Fatalf("session cookie %+v: want one HttpOnly, SameSite=Strict cookie that expires", cookies)
		}
		if strings.Contains(cookies[0].Value, testToken) {
			t.Fatal("the session cookie holds the admin token")
		}
		if got := strings.Fields(text(t, ctx, "#events-hour")); len(got) == 0 || got[0] != "2" {
			t.Fatalf("the dashboard counts %q events in the last hour, want 2", got)
		}
	})

	t.Run("an order's timeline", func(t *testing.T) {
		load(t, ctx, chromedp.Navigate(a.url+"/admin/orders/o1"))
		if got := text(t, ctx, "#order-status"); got != "refunded" {
			t.Fatalf("order status %q", got)
		}
		timeline := text(t, ctx, "#timeline")
		for _, want := range []string{paidEvent, "checkout.session.completed", "not paid yet → paid", "print-1: stock -1",
			refundEvent, "charge.refunded", "paid → refunded", "print-1: stock +1"} {
			if !strings.Contains(timeline, want) {
				t.Fatalf("the timeline does not show %q:\n%s", want, timeline)
			}
		}
		if got := text(t, ctx, "#amount-paid"); got != "€20.00" {
			t.Fatalf("amount paid shown as %q", got)
		}
		// Each email and alert appears beside the event that caused it (a
		// customer email names its address once sent: here none is).
		deliveries := text(t, ctx, `#timeline tr[data-event="`+paidEvent+`"] ul.deliveries`)
		if !strings.Contains(deliveries, "email order confirmation") || !strings.Contains(deliveries, "not sent") {
			t.Fatalf("the paid event's deliveries: %q", deliveries)
		}
		link, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#order a[href*="dashboard.stripe.com/test/payments/"]`), "href"))
		if err != nil || !link.Exists {
			t.Fatal("no link to the payment in Stripe's test dashboard")
		}
		screenshot(t, ctx, "order.png")
	})

	t.Run("replay a dead letter", func(t *testing.T) {
		a.putProduct("tee", 3)
		mend := breakTable(t, a, "orders")
		id := a.send(stripe.Example{Type: "checkout.session.completed", OrderID: "o2", ProductID: "tee"})
		if s := a.wait(id)[id]; s != caisse.EventFailed {
			t.Fatalf("status %s, want failed", s)
		}
		mend()
		a.forget(id)
		load(t, ctx, chromedp.Navigate(a.url+"/admin/events?status=failed"))
		if got := text(t, ctx, "#events"); !strings.Contains(got, id) || !strings.Contains(got, "disk is full") {
			t.Fatalf("the dead letters list shows:\n%s", got)
		}
		load(t, ctx, chromedp.Click(chromedp.CSS(`tr[data-event="`+id+`"] a`)))
		if got := text(t, ctx, "#event-status"); got != "dead letter" {
			t.Fatalf("event page shows status %q", got)
		}
		load(t, ctx, chromedp.Click(chromedp.CSS("#replay")))
		text(t, ctx, "#flash")
		if s := a.wait(id)[id]; s != caisse.EventProcessed {
			t.Fatalf("after replay: %s", s)
		}
		load(t, ctx, chromedp.Navigate(a.url+"/admin/events/"+id))
		if got := text(t, ctx, "#event-status"); got != "processed" {
			t.Fatalf("after replay the page shows %q", got)
		}
		if got := text(t, ctx, "#changes"); !strings.Contains(got, "paid") || !strings.Contains(got, "tee: stock -1") {
			t.Fatalf("what the replayed event changed:\n%s", got)
		}
	})

	t.Run("replay every event matching a filter", func(t *testing.T) {
		mend := breakTable(t, a, "orders")
		var ids []string
		for i := range 3 {
			ids = append(ids, a.send(stripe.Example{Type: "checkout.session.completed", OrderID: fmt.Sprintf("f%d", i), ProductID: "tee"}))
		}
		for _, id := range ids {
			if s := a.wait(id)[id]; s != caisse.EventFailed {
				t.Fatalf("status %s, want failed", s)
			}
		}
		mend()
		a.forget(ids...)
		load(t, ctx, chromedp.Navigate(a.url+"/admin/events?status=failed"))
		load(t, ctx, chromedp.Click(chromedp.CSS("#replay-matching")))
		if got := text(t, ctx, "#replay-count"); !strings.Contains(got, "puts 3 event(s)") {
			t.Fatalf("the confirmation says %q, want 3 events", got)
		}
		load(t, ctx, chromedp.Click(chromedp.CSS("#confirm-replay")))
		if got := text(t, ctx, "#flash"); !strings.Contains(got, "Replayed 3 event(s)") {
			t.Fatalf("after replay: %q", got)
		}
		for _, id := range ids {
			if s := a.wait(id)[id]; s != caisse.EventProcessed {
				t.Fatalf("%s after replay: %s", id, s)
			}
		}
	})

	t.Run("edit stock", func(t *testing.T) {
		load(t, ctx, chromedp.Navigate(a.url+"/admin/products"))
		browse(t, ctx, chromedp.SetValue(chromedp.CSS(`#product-print-1 input[name=stock]`), "4"),
			chromedp.SetValue(chromedp.CSS(`#product-print-1 input[name=price]`), "25.50"))
		load(t, ctx, chromedp.Submit(chromedp.CSS(`#product-print-1`)))
		text(t, ctx, "#flash")
		if got := text(t, ctx, `tr[data-product="print-1"] .stock`); got != "4" {
			t.Fatalf("stock shown %q after the edit", got)
		}
		if p := a.product("print-1"); p.Stock != 4 || p.Price != 2550 || !p.IsAvailable {
			t.Fatalf("product after the edit: %+v", p)
		}
	})

	t.Run("a cross-origin POST is refused", func(t *testing.T) {
		mend := breakTable(t, a, "orders")
		id := a.send(stripe.Example{Type: "checkout.session.completed", OrderID: "x1", ProductID: "tee"})
		if s := a.wait(id)[id]; s != caisse.EventFailed {
			t.Fatalf("status %s, want failed", s)
		}
		mend()
		// Another site (another origin on the same host) tries to make the
		// signed-in browser replay the event.
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/admin/events/%s/replay"><button id="go">win a prize</button></form>`, a.url, id)
		}))
		defer evil.Close()
		load(t, ctx, chromedp.Navigate(evil.URL))
		if status := load(t, ctx, chromedp.Click(chromedp.CSS("#go"))); status != http.StatusForbidden {
			t.Fatalf("the cross-origin POST answered %d, want 403", status)
		}
		if got := text(t, ctx, "body"); !strings.Contains(got, "refused this request") {
			t.Fatalf("the cross-origin POST got %q", got)
		}
		if e := a.event(id); e.Status != caisse.EventFailed {
			t.Fatalf("the event was replayed by another site: %s", e.Status)
		}
	})

	t.Run("the dashboard", func(t *testing.T) {
		// Three sales of the tee after o2 took one of its 3 units: one of
		// them found none left.
		load(t, ctx, chromedp.Navigate(a.url+"/admin/"))
		for sel, want := range map[string]string{"#dead-letters": "1", "#events-hour": "7", "#oversold": "1"} {
			if got := strings.Fields(text(t, ctx, sel)); len(got) == 0 || got[0] != want {
				t.Errorf("%s shows %q, want %s", sel, got, want)
			}
		}
		screenshot(t, ctx, "dashboard.png")
		load(t, ctx, chromedp.Click(chromedp.CSS("#dead-letters")))
		if got := text(t, ctx, "#events"); !strings.Contains(got, "dead letter") || strings.Contains(got, "processed") {
			t.Fatalf("the dead letters link lists:\n%s", got)
		}
	})

	t.Run("the language switch", func(t *testing.T) {
		load(t, ctx, chromedp.Navigate(a.url+"/admin/orders"))
		load(t, ctx, chromedp.Click(chromedp.CSS("#lang-fr")))
		if got := text(t, ctx, "h1"); got != "Commandes" {
			t.Fatalf("after choosing Français the page is %q", got)
		}
		lang, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("html"), "lang"))
		if err != nil || lang.Value != "fr" {
			t.Fatalf("the page's language is %+v (%v)", lang, err)
		}
		// It sticks from page to page, over the browser's English.
		load(t, ctx, chromedp.Navigate(a.url+"/admin/orders/o1"))
		if got := text(t, ctx, "h1"); !strings.HasPrefix(got, "Commande o1") {
			t.Fatalf("the next page is %q", got)
		}
		if got := text(t, ctx, "#order-status"); got != "remboursée" {
			t.Fatalf("the order's status reads %q", got)
		}
		if got, want := text(t, ctx, "#amount-paid"), caisse.FormatMoney(2000, "eur", "fr"); got != want {
			t.Fatalf("amount paid shown as %q, want %q", got, want)
		}
		if got := text(t, ctx, "#timeline"); !strings.Contains(got, "pas encore payée → payée") {
			t.Fatalf("the timeline in French:\n%s", got)
		}
		load(t, ctx, chromedp.Click(chromedp.CSS("#lang-en")))
		if got := text(t, ctx, "h1"); !strings.HasPrefix(got, "Order o1") {
			t.Fatalf("after choosing English the page is %q", got)
		}
		var lc *network.Cookie
		for _, c := range browserCookies(t, ctx, a.url+"/admin/") {
			if c.Name == "caisse_lang" {
				lc = c
			}
		}
		if lc == nil || lc.Value != "en" || !lc.HTTPOnly || lc.SameSite != network.CookieSameSiteStrict || lc.Path != "/admin" {
			t.Fatalf("language cookie %+v: want caisse_lang=en, HttpOnly, SameSite=Strict, on /admin", lc)
		}
	})

	t.Run("signing out ends the session", func(t *testing.T) {
		load(t, ctx, chromedp.Navigate(a.url+"/admin/"))
		var stolen string
		for _, c := range browserCookies(t, ctx, a.url+"/admin/") {
			if c.Name == "caisse_session" {
				stolen = c.Value
			}
		}
		if stolen == "" {
			t.Fatal("no session cookie")
		}
		load(t, ctx, chromedp.Click(chromedp.CSS("#signout")))
		if got := text(t, ctx, "#flash"); got != "You are signed out." {
			t.Fatalf("after sign-out: %q", got)
		}
		load(t, ctx, chromedp.Navigate(a.url+"/admin/orders"))
		if got := text(t, ctx, "h1"); got != "Sign in" {
			t.Fatalf("after sign-out /admin/orders shows %q", got)
		}
		// A copy of the cookie taken before sign-out no longer opens a page.
		req, _ := http.NewRequest(http.MethodGet, a.url+"/admin/orders", nil)
		req.AddCookie(&http.Cookie{Name: "caisse_session", Value: stolen})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("the signed-out cookie still answers %d", resp.StatusCode)
		}
	})
}

// signedInClient signs in with the admin token over plain HTTP and returns
// a client that carries the session, and the session cookie.
func signedInClient(t *testing.T, a *app, headers ...string) (*http.Client, *http.Cookie) {
	t.Helper()
	form := url.Values{"token": {testToken}, "next": {"/admin/orders"}}
	req, _ := http.NewRequest(http.MethodPost, a.url+"/admin/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/orders" {
		t.Fatalf("sign-in answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "caisse_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatal("sign-in set no session cookie")
	}
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(a.url + "/admin/")
	jar.SetCookies(u, []*http.Cookie{{Name: session.Name, Value: session.Value, Path: "/admin"}})
	return &http.Client{Jar: jar}, session
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Every page answers on both databases, with the figures the store gives,
// and none shows a secret.
func TestAdminPagesRender(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.putProduct("tee", 2)
		paid := a.send(stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "tee", Email: "Buyer@Example.com",
			PaymentIntent: "pi_render1", Session: "cs_render1"})
		disputed := a.send(stripe.Example{Type: "charge.dispute.created", OrderID: "o1", ProductID: "tee", PaymentIntent: "pi_render1",
			Dispute: "dp_render1"})
		a.wait(paid, disputed)
		// The admin API takes the same filters.
		var events struct{ Data []caisse.Event }
		if a.admin(http.MethodGet, "/api/admin/events?order=o1&since=2000-01-01T00:00", nil, &events); len(events.Data) != 2 {
			t.Errorf("the API lists %d events about o1, want 2", len(events.Data))
		}
		var orders struct{ Data []caisse.Order }
		if a.admin(http.MethodGet, "/api/admin/orders?q=cs_render1", nil, &orders); len(orders.Data) != 1 || orders.Data[0].ID != "o1" {
			t.Errorf("the API finds %+v by its session", orders.Data)
		}
		if status := a.admin(http.MethodGet, "/api/admin/events?since=soon", nil, nil); status != http.StatusBadRequest {
			t.Errorf("a bad time answered %d", status)
		}
		c, _ := signedInClient(t, a)
		for path, wants := range map[string][]string{
			"/admin/":       {"Dashboard", "dp_render1", "events in the last hour"},
			"/admin/events": {paid, disputed, "checkout.session.completed"},
			"/admin/events?status=processed&order=o1": {paid, disputed},
			"/admin/events?id=" + paid:                {paid},
			"/admin/events/" + paid:                   {"What it changed", "tee: stock -1", "&#34;checkout.session.completed&#34;"},
			"/admin/orders":                           {"o1", "disputed"},
			"/admin/orders?q=buyer@example.COM":       {"o1"},
			"/admin/orders?q=pi_render1":              {"o1"},
			"/admin/orders?q=cs_render1":              {"o1"},
			"/admin/orders?status=oversold":           {"No order matches"},
			"/admin/orders/o1":                        {"dp_render1", "Timeline", "disputed"},
			"/admin/products":                         {"tee", "Import a catalogue"},
			"/admin/deliveries":                       {"email", "Retry every failed delivery"},
			"/admin/replay?status=processed":          {"puts <b>2</b> event(s)"},
		} {
			status, body := get(t, c, a.url+path)
			if status != http.StatusOK {
				t.Errorf("%s answered %d:\n%s", path, status, body)
				continue
			}
			for _, want := range wants {
				if !strings.Contains(body, want) {
					t.Errorf("%s does not show %q", path, want)
				}
			}
			for _, secret := range []string{testToken, testSecret} {
				if strings.Contains(body, secret) {
					t.Errorf("%s shows a secret", path)
				}
			}
		}
		resp, err := c.Get(a.url + "/admin/orders/o1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") ||
			resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("an order's page is served with CSP %q and X-Frame-Options %q", csp, resp.Header.Get("X-Frame-Options"))
		}
		for path, want := range map[string]int{
			"/admin/orders/nope":               http.StatusNotFound,
			"/admin/events/evt_nope":           http.StatusNotFound,
			"/admin/orders?status=banana":      http.StatusBadRequest,
			"/admin/events?since=yesterday":    http.StatusBadRequest,
			"/admin/deliveries?channel=pigeon": http.StatusBadRequest,
			"/admin/nothing-here":              http.StatusNotFound,
		} {
			if status, body := get(t, c, a.url+path); status != want || !strings.Contains(body, `class="problem"`) {
				t.Errorf("%s answered %d, want %d with the problem said:\n%s", path, status, want, body)
			}
		}
	})
}

// The sign-in: off without a token, rate-limited, never redirecting away,
// and Secure behind https.
func TestAdminPagesSignIn(t *testing.T) {
	t.Run("off without a token", func(t *testing.T) {
		a := setup(t, sqliteDB, func(env map[string]string) { delete(env, "CAISSE_ADMIN_TOKEN") })
		for _, path := range []string{"/admin/", "/admin/signin", "/admin/orders"} {
			if status, body := get(t, http.DefaultClient, a.url+path); status != http.StatusNotFound || !strings.Contains(body, "CAISSE_ADMIN_TOKEN") {
				t.Errorf("%s answered %d: %s", path, status, body)
			}
		}
	})
	t.Run("unsigned requests get the form, and POSTs change nothing", func(t *testing.T) {
		a := setup(t, sqliteDB)
		if status, body := get(t, http.DefaultClient, a.url+"/admin/orders"); status != http.StatusUnauthorized || !strings.Contains(body, `id="signin"`) {
			t.Fatalf("unsigned GET answered %d: %s", status, body)
		}
		resp, err := http.PostForm(a.url+"/admin/deliveries/retry", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("unsigned POST answered %d", resp.StatusCode)
		}
	})
	t.Run("wrong tokens are rate-limited", func(t *testing.T) {
		a := setup(t, sqliteDB)
		var last int
		for range 11 {
			resp, err := http.PostForm(a.url+"/admin/signin", url.Values{"token": {"wrong-token-guess-0000"}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			last = resp.StatusCode
		}
		if last != http.StatusTooManyRequests {
			t.Fatalf("the 11th wrong token in a row answered %d, want 429", last)
		}
		resp, err := http.PostForm(a.url+"/admin/signin", url.Values{"token": {testToken}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("the right token while limited answered %d: the limit must hold for every guess", resp.StatusCode)
		}
		if strings.Contains(a.logs.String(), "wrong-token-guess") {
			t.Fatal("a guessed token reached the logs")
		}
	})
	t.Run("next stays on caisse", func(t *testing.T) {
		a := setup(t, sqliteDB)
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, next := range []string{"//evil.example/x", "https://evil.example/", "/admin/../evil", "/\\evil.example", "javascript:alert(1)"} {
			resp, err := noRedirect.PostForm(a.url+"/admin/signin", url.Values{"token": {testToken}, "next": {next}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); loc != "/admin/" {
				t.Errorf("next=%q redirected to %q", next, loc)
			}
		}
	})
	t.Run("Secure over https", func(t *testing.T) {
		plain := setup(t, sqliteDB)
		if _, c := signedInClient(t, plain); c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.MaxAge <= 0 {
			t.Fatalf("cookie over plain http: %+v", c)
		}
		public := setup(t, sqliteDB, func(env map[string]string) { env["CAISSE_PUBLIC_URL"] = "https://pay.example.com" })
		if _, c := signedInClient(t, public); !c.Secure {
			t.Fatalf("with an https public URL the cookie is not Secure: %+v", c)
		}
		proxied := setup(t, sqliteDB, func(env map[string]string) { env["CAISSE_TRUSTED_PROXIES"] = "127.0.0.1/32" })
		if _, c := signedInClient(t, proxied, "X-Forwarded-Proto", "https"); !c.Secure {
			t.Fatalf("behind a trusted https proxy the cookie is not Secure: %+v", c)
		}
	})
	t.Run("a POST from another origin is refused", func(t *testing.T) {
		a := setup(t, sqliteDB)
		c, _ := signedInClient(t, a)
		req, _ := http.NewRequest(http.MethodPost, a.url+"/admin/deliveries/retry", nil)
		req.Header.Set("Origin", "https://evil.example")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("a signed-in POST with Origin https://evil.example answered %d, want 403", resp.StatusCode)
		}
	})
}

// A catalogue imported from the products page: a preview that writes
// nothing, then the same file applied.
func TestAdminPagesImport(t *testing.T) {
	a := setup(t, sqliteDB)
	a.putProduct("tee", 0) // sold out: the file's stock must not come back
	c, _ := signedInClient(t, a)
	post := func(fields map[string]string, file string) (int, string) {
		t.Helper()
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for k, v := range fields {
			_ = mw.WriteField(k, v)
		}
		if file != "" {
			fw, _ := mw.CreateFormFile("file", "catalogue.csv")
			_, _ = fw.Write([]byte(file))
		}
		mw.Close()
		req, _ := http.NewRequest(http.MethodPost, a.url+"/admin/import", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	csv := "id,name,price,currency,stock\ntee,Tee,25.00,eur,5\nprint-2,Print #2,900.00,eur,1\n"
	status, page := post(nil, csv)
	if status != http.StatusOK || !strings.Contains(page, "new: Print #2, price 900.00 EUR, stock 1") ||
		!strings.Contains(page, "stock kept at 0 (the file says 5") {
		t.Fatalf("preview answered %d:\n%s", status, page)
	}
	if status := a.admin(http.MethodGet, "/api/admin/products/print-2", nil, nil); status != http.StatusNotFound {
		t.Fatalf("the preview wrote print-2 (%d)", status)
	}
	start := strings.Index(page, `name="data" value="`) + len(`name="data" value="`)
	data := page[start : start+strings.Index(page[start:], `"`)]
	status, page = post(map[string]string{"data": data, "apply": "1"}, "")
	if status != http.StatusOK || !strings.Contains(page, "Imported 2 product(s).") {
		t.Fatalf("apply answered %d:\n%s", status, page)
	}
	if p := a.product("print-2"); p.Stock != 1 || p.Price != 90000 {
		t.Fatalf("print-2 after import: %+v", p)
	}
	if p := a.product("tee"); p.Stock != 0 || p.Price != 2500 {
		t.Fatalf("tee after import: %+v (a re-import must not restock)", p)
	}
	if status, page := post(nil, "id,name\nx,X\nx,Y\n"); status != http.StatusBadRequest || !strings.Contains(page, "each id may appear once") {
		t.Fatalf("a duplicate id answered %d:\n%s", status, page)
	}
	if status, page := post(nil, "id,name\n"+strings.Repeat("x,X\n", 3<<20)); status != http.StatusRequestEntityTooLarge || !strings.Contains(page, "over the 10 MiB") {
		t.Fatalf("a 12 MiB file answered %d:\n%.300s", status, page)
	}
	if status := a.admin(http.MethodGet, "/api/admin/products/x", nil, nil); status != http.StatusNotFound {
		t.Fatalf("a refused file wrote a product (%d)", status)
	}
}

// Saving a product on its page: a price change leaves the stock as sales
// left it, a stock typed over a stock that sales moved meanwhile is
// refused, and an id holding "#" edits that product, not another.
func TestAdminPagesProductEdit(t *testing.T) {
	a := setup(t, sqliteDB)
	a.putProduct("tee", 10)
	a.putProduct("print", 5)
	if status := a.admin(http.MethodPut, "/api/admin/products/"+url.PathEscape("print#2"), caisse.NewProductUpdate("Print 2", 2500, "eur", 5), nil); status != http.StatusOK {
		t.Fatalf("PUT print#2: %d", status)
	}
	c, _ := signedInClient(t, a)
	if _, page := get(t, c, a.url+"/admin/products"); !strings.Contains(page, `action="/admin/products/print%232"`) {
		t.Fatalf("the form of print#2 does not post to its own path:\n%s", page)
	}
	// A sale after the page loaded (it showed 10).
	a.wait(a.send(stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "tee"}))
	post := func(path string, form url.Values) int {
		t.Helper()
		resp, err := c.PostForm(a.url+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := post("/admin/products/tee", url.Values{"stock_was": {"10"}, "stock": {"10"}, "price": {"30.00"}}); status != http.StatusOK {
		t.Fatalf("saving a price answered %d", status)
	}
	if p := a.product("tee"); p.Stock != 9 || p.Price != 3000 {
		t.Fatalf("after a price change: %+v, want the sold unit still sold (stock 9) at 30.00", p)
	}
	if status := post("/admin/products/tee", url.Values{"stock_was": {"10"}, "stock": {"12"}}); status != http.StatusConflict {
		t.Fatalf("a stock set over a stale one answered %d, want 409", status)
	}
	if status := post("/admin/products/tee", url.Values{"stock_was": {"9"}, "stock": {"12"}}); status != http.StatusOK {
		t.Fatalf("a restock answered %d", status)
	}
	if p := a.product("tee"); p.Stock != 12 {
		t.Fatalf("after a restock: %+v", p)
	}
	// The admin API takes the same guard.
	var failure struct {
		Error struct{ Code, Message string }
	}
	if status := a.admin(http.MethodPut, "/api/admin/products/tee", map[string]any{"stock": 20, "stock_was": 5}, &failure); status != http.StatusConflict ||
		!strings.Contains(failure.Error.Message, "it is 12 now") {
		t.Fatalf("PUT with a stale stock_was: %d %+v", status, failure)
	}
	if status := a.admin(http.MethodPut, "/api/admin/products/tee", map[string]any{"stock": 20, "stock_was": 12}, nil); status != http.StatusOK || a.product("tee").Stock != 20 {
		t.Fatalf("PUT with the current stock_was: %d %+v", status, a.product("tee"))
	}
	if status := post("/admin/products/print%232", url.Values{"stock_was": {"5"}, "stock": {"7"}}); status != http.StatusOK {
		t.Fatalf("saving print#2 answered %d", status)
	}
	var p2 caisse.Product
	a.admin(http.MethodGet, "/api/admin/products/"+url.PathEscape("print#2"), nil, &p2)
	if p2.Stock != 7 || a.product("print").Stock != 5 {
		t.Fatalf("print#2 %+v, print %+v: the save went to the wrong product", p2, a.product("print"))
	}
}

// The admin API's token cannot be guessed faster than the sign-in's: after
// 10 wrong tokens a client is refused, right token or not.
func TestAdminAPIGuessesAreLimited(t *testing.T) {
	a := setup(t, sqliteDB)
	try := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, a.url+"/api/admin/orders", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := try(testToken); status != http.StatusOK {
		t.Fatalf("the right token answered %d", status)
	}
	for i := range 10 {
		if status := try(fmt.Sprintf("guess-%d-0000000000000", i)); status != http.StatusUnauthorized {
			t.Fatalf("wrong token %d answered %d, want 401", i+1, status)
		}
	}
	if status := try("guess-11-0000000000000"); status != http.StatusTooManyRequests {
		t.Fatalf("the 11th wrong token answered %d, want 429", status)
	}
	if status := try(testToken); status != http.StatusTooManyRequests {
		t.Fatalf("the right token after 10 guesses answered %d, want 429: the limit must hold for every try", status)
	}
}

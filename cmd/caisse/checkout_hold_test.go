package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/internal/stripemock"
	"github.com/caisse/caisse/stripe"
)

// stripeTap passes caisse's requests on to the real stripe-mock and notes
// each one ("POST /v1/checkout/sessions/cs_…/expire"), so a test can see
// what caisse asked Stripe for.
type stripeTap struct {
	url string
	mu  sync.Mutex
	got []string
}

func tapStripe(t *testing.T, upstream string) *stripeTap {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	tap := &stripeTap{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tap.mu.Lock()
		tap.got = append(tap.got, r.Method+" "+r.URL.Path)
		tap.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tap.url = srv.URL
	return tap
}

// expired lists the sessions caisse asked Stripe to expire, in order.
func (s *stripeTap) expired() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.got {
		if id, ok := strings.CutPrefix(r, "POST /v1/checkout/sessions/"); ok && strings.HasSuffix(id, "/expire") {
			out = append(out, strings.TrimSuffix(id, "/expire"))
		}
	}
	return out
}

// checkoutAs posts a checkout as a client behind the trusted proxy
// (forwardedFor), or as the shop's server with a key ("" for none).
func (a *app) checkoutAs(body any, forwardedFor, key string) (int, checkoutAnswer) {
	a.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, a.url+"/api/checkout", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	var ans checkoutAnswer
	if err := json.NewDecoder(res.Body).Decode(&ans); err != nil {
		a.t.Fatalf("checkout answered %d with no JSON: %v", res.StatusCode, err)
	}
	return res.StatusCode, ans
}

// cancelCheckout posts to the cancel route as a shop's cancel page would.
func (a *app) cancelCheckout(orderID, origin string) (int, map[string]any, http.Header) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.url+"/api/checkout/"+url.PathEscape(orderID)+"/cancel", nil)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	var ans map[string]any
	if err := json.NewDecoder(res.Body).Decode(&ans); err != nil {
		a.t.Fatalf("cancel answered %d with no JSON: %v", res.StatusCode, err)
	}
	return res.StatusCode, ans, res.Header
}

func buyMany(items ...caisse.Item) caisse.CheckoutRequest {
	r := buy("", 0)
	r.Items = items
	return r
}

func timelineHas(o caisse.Order, typ string) bool {
	return slices.ContainsFunc(o.Timeline, func(e caisse.TimelineEntry) bool { return e.Type == typ })
}

// One client (an address) tries to hold a whole gallery of 200 unique
// artworks through one checkout each, with no rate limit in the way: it holds
// CAISSE_CHECKOUT_MAX_UNITS at most, across its checkouts and across
// instances, and is refused past that with 409 too_many_held, before
// Stripe is asked. Its second checkout of artworks it holds replaces the
// checkouts holding them: Stripe expires their sessions and their units
// pass to the new one. Other clients are not affected.
func TestCheckoutHoldsAreBoundedPerClient(t *testing.T) {
	mock := stripemock.Start(t)
	eachDB(t, func(t *testing.T, db testDB) {
		tap := tapStripe(t, mock)
		a := setup(t, db, withStripe(tap.url))
		const client = "203.0.113.9"
		var catalogue bytes.Buffer
		catalogue.WriteString("id,name,price,currency,stock\n")
		for i := range 200 {
			fmt.Fprintf(&catalogue, "art-%03d,Artwork %d,90000,eur,1\n", i, i)
		}
		file := t.TempDir() + "/gallery.csv"
		if err := os.WriteFile(file, catalogue.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := a.cli("products", "import", file); err != nil {
			t.Fatal(err)
		}
		var held []checkoutAnswer
		refused := map[string]int{}
		for i := range 200 {
			status, ans := a.checkoutAs(buy(fmt.Sprintf("art-%03d", i), 1), client, "")
			switch status {
			case http.StatusCreated:
				held = append(held, ans)
			default:
				refused[fmt.Sprint(status, " ", ans.Error.Code)]++
				if ans.Error.Message == "" || !strings.Contains(ans.Error.Message, "cancel") {
					t.Fatalf("refusal %d says %q: it should say what to do", i, ans.Error.Message)
				}
			}
		}
		if len(held) != 20 || refused["409 too_many_held"] != 180 || len(refused) != 1 {
			t.Fatalf("one client's 200 checkouts: %d opened, refused %v; want 20 opened and 180 refused 409 too_many_held", len(held), refused)
		}
		reserved := int64(0)
		for i := range 200 {
			reserved += a.product(fmt.Sprintf("art-%03d", i)).Reserved
		}
		if reserved != 20 {
			t.Fatalf("the client holds %d artworks, want 20", reserved)
		}
		if len(tap.expired()) != 0 {
			t.Fatalf("sessions expired before any replacement: %v", tap.expired())
		}
		// Another address is not affected.
		if status, ans := a.checkoutAs(buy("art-150", 1), "198.51.100.7", ""); status != http.StatusCreated {
			t.Fatalf("another client: %d %+v", status, ans.Error)
		}

		// The client checks out two of its artworks again, together: the two
		// checkouts holding them are replaced.
		first, second := held[0], held[1]
		status, again := a.checkoutAs(buyMany(caisse.Item{ProductID: "art-000", Quantity: 1}, caisse.Item{ProductID: "art-001", Quantity: 1}), client, "")
		if status != http.StatusCreated {
			t.Fatalf("a second checkout of what the client holds: %d %+v", status, again.Error)
		}
		if got := tap.expired(); len(got) != 2 || !slices.Contains(got, first.CheckoutSessionID) || !slices.Contains(got, second.CheckoutSessionID) {
			t.Fatalf("sessions expired: %v, want the replaced checkouts' %s and %s", got, first.CheckoutSessionID, second.CheckoutSessionID)
		}
		for _, old := range []checkoutAnswer{first, second} {
			o := a.order(old.OrderID)
			if !timelineHas(o, "caisse.checkout_replaced") {
				t.Fatalf("the replaced order %s: no caisse.checkout_replaced in its timeline: %+v", o.ID, o.Timeline)
			}
		}
		for _, id := range []string{"art-000", "art-001"} {
			if p := a.product(id); p.Reserved != 1 || p.Available != 0 {
				t.Fatalf("%s after the replacement: %+v, want held once (by the new checkout)", id, p)
			}
		}
		// Still 20 held: one more is refused.
		if status, ans := a.checkoutAs(buy("art-199", 1), client, ""); status != http.StatusConflict || ans.Error.Code != caisse.ReasonTooManyHeld {
			t.Fatalf("past the limit after the replacement: %d %+v", status, ans.Error)
		}
		// The digest is stored, never the address, and only while the
		// checkout holds units: the client's 19 open checkouts (18 kept and
		// the replacement) and the other client's one.
		storedClients := func() []string {
			var clients []string
			rows, err := a.raw().Query(`SELECT checkout_client FROM orders WHERE checkout_client <> ''`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var c string
				rows.Scan(&c)
				clients = append(clients, c)
			}
			return clients
		}
		if clients := storedClients(); len(clients) != 20 || slices.ContainsFunc(clients, func(c string) bool { return strings.Contains(c, "203.0.113") || len(c) != 32 }) {
			t.Fatalf("stored clients: %q, want 20 digests of 32 hex", clients)
		}

		// Cancelling frees room at once.
		if status, ans, _ := a.cancelCheckout(held[5].OrderID, ""); status != http.StatusOK || ans["cancelled"] != true {
			t.Fatalf("cancel: %d %v", status, ans)
		}
		if n := len(storedClients()); n != 19 {
			t.Fatalf("%d orders keep a client after a cancel, want 19 (18 of the client's, 1 of the other's)", n)
		}
		if status, ans := a.checkoutAs(buy("art-199", 1), client, ""); status != http.StatusCreated {
			t.Fatalf("after a cancel: %d %+v", status, ans.Error)
		}

		// On PostgreSQL, another instance counts what the first holds.
		if db == postgresDB {
			b := setup(t, db, withStripe(tap.url), func(env map[string]string) { env["CAISSE_DATABASE_URL"] = a.env["CAISSE_DATABASE_URL"] })
			if status, ans := b.checkoutAs(buy("art-198", 1), client, ""); status != http.StatusConflict || ans.Error.Code != caisse.ReasonTooManyHeld {
				t.Fatalf("the same client on another instance: %d %+v", status, ans.Error)
			}
		}
	})
}

// A buyer who leaves releases the checkout at once: Stripe expires its
// session, the units are available again, and the site (Sanity) hears the
// artwork is available. A paid order cannot be cancelled; an order id
// caisse's checkout did not make is not found.
func TestCheckoutCancelReleasesAtOnce(t *testing.T) {
	mock := stripemock.Start(t)
	eachDB(t, func(t *testing.T, db testDB) {
		tap := tapStripe(t, mock)
		r := startReceivers(t, smtptest.Options{})
		r.sanity.AddDocument("art")
		a := setup(t, db, withStripe(tap.url), r.env, func(env map[string]string) {
			env["CAISSE_CORS_ORIGINS"] = "https://shop.example"
		})
		a.putProduct("art", 1)
		a.putProduct("print", 5)
		status, ans, _ := a.checkout(buy("art", 1), "")
		if status != http.StatusCreated {
			t.Fatalf("checkout: %d %+v", status, ans.Error)
		}
		a.until("the site told the artwork is held", func() bool { d, _ := r.sanity.Document("art"); return d["isAvailable"] == false })

		status, got, h := a.cancelCheckout(ans.OrderID, "https://shop.example")
		if status != http.StatusOK || got["cancelled"] != true || got["order_id"] != ans.OrderID ||
			h.Get("Access-Control-Allow-Origin") != "https://shop.example" {
			t.Fatalf("cancel: %d %v %v", status, got, h)
		}
		if p := a.product("art"); p.Reserved != 0 || p.Available != 1 || !p.IsAvailable {
			t.Fatalf("right after the cancel: %+v, want available", p)
		}
		if exp := tap.expired(); !slices.Equal(exp, []string{ans.CheckoutSessionID}) {
			t.Fatalf("sessions expired: %v, want %s", exp, ans.CheckoutSessionID)
		}
		o := a.order(ans.OrderID)
		if !timelineHas(o, "caisse.checkout_cancelled") || len(o.Timeline) == 0 {
			t.Fatalf("the cancelled order's timeline: %+v", o.Timeline)
		}
		if n := len(a.deliveriesOf("channel=sanity&order=" + ans.OrderID)); n != 2 {
			t.Fatalf("%d Sanity rows for the order, want 2 (held, then available)", n)
		}
		a.until("the site told the artwork is available again", func() bool { d, _ := r.sanity.Document("art"); return d["isAvailable"] == true })
		// A cancel page loaded twice.
		if status, got, _ := a.cancelCheckout(ans.OrderID, ""); status != http.StatusOK || got["cancelled"] != true {
			t.Fatalf("a second cancel: %d %v", status, got)
		}
		if n := len(tap.expired()); n != 1 {
			t.Fatalf("the second cancel asked Stripe again (%d expiries)", n)
		}

		// A paid order keeps its units.
		status, paid, _ := a.checkout(buy("print", 2), "")
		if status != http.StatusCreated {
			t.Fatalf("checkout: %d %+v", status, paid.Error)
		}
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: paid.OrderID, Session: paid.CheckoutSessionID,
			ProductID: "print", Quantity: 2, Amount: 5000})
		status, got, _ = a.cancelCheckout(paid.OrderID, "")
		if errBody, _ := got["error"].(map[string]any); status != http.StatusConflict || errBody["code"] != caisse.ReasonAlreadyPaid {
			t.Fatalf("cancelling a paid order: %d %v", status, got)
		}
		if p := a.product("print"); p.Stock != 3 || p.Reserved != 0 {
			t.Fatalf("the paid order's units: %+v", p)
		}
		// Orders caisse's checkout did not open, and no order at all.
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "print", Unpaid: true})
		for _, id := range []string{"o1", "ord_000000000000000000000000"} {
			if status, got, _ := a.cancelCheckout(id, ""); status != http.StatusNotFound {
				t.Fatalf("cancelling %s: %d %v", id, status, got)
			}
		}
		res, err := http.Get(a.url + "/api/checkout/" + ans.OrderID + "/cancel")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET on the cancel route: %d", res.StatusCode)
		}
	})
}

// The shop's server calls checkout with CAISSE_CHECKOUT_KEY and names each
// buyer: two buyers behind its one address each have their own rate and
// their own units. A wrong key is 401; a client_id without the key, or the
// key without a client_id, is 400. The key appears in no log.
func TestCheckoutKeyLimitsPerBuyer(t *testing.T) {
	mock := stripemock.Start(t)
	const key = "shop-server-checkout-key-0123456789"
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db, withStripe(mock), func(env map[string]string) {
			env["CAISSE_CHECKOUT_KEY"] = key
			env["CAISSE_CHECKOUT_RATE"] = "3/1h"
			env["CAISSE_CHECKOUT_MAX_UNITS"] = "3"
		})
		a.putProduct("print", 10)
		a.putProduct("tee", 10)
		const shop = "192.0.2.10"
		as := func(buyer string, items ...caisse.Item) caisse.CheckoutRequest {
			r := buyMany(items...)
			r.ClientID = buyer
			return r
		}
		print3 := caisse.Item{ProductID: "print", Quantity: 3}
		tee1 := caisse.Item{ProductID: "tee", Quantity: 1}
		for _, step := range []struct {
			name   string
			req    caisse.CheckoutRequest
			status int
			code   string
		}{
			{"alice holds three prints", as("alice", print3), 201, ""},
			{"alice holds no more", as("alice", tee1), 409, caisse.ReasonTooManyHeld},
			{"bob, behind the same address, has his own units", as("bob", caisse.Item{ProductID: "tee", Quantity: 3}), 201, ""},
			{"alice replaces her prints", as("alice", caisse.Item{ProductID: "print", Quantity: 1}), 201, ""},
			{"alice spent her three checkouts", as("alice", tee1), 429, caisse.ReasonRateLimited},
			{"bob has his own rate", as("bob", caisse.Item{ProductID: "tee", Quantity: 2}), 201, ""},
		} {
			if status, ans := a.checkoutAs(step.req, shop, key); status != step.status || ans.Error.Code != step.code {
				t.Fatalf("%s: %d %+v, want %d %s", step.name, status, ans.Error, step.status, step.code)
			}
		}
		if p := a.product("print"); p.Reserved != 1 {
			t.Fatalf("prints held: %+v, want alice's one", p)
		}
		if p := a.product("tee"); p.Reserved != 2 {
			t.Fatalf("tees held: %+v, want bob's two (his second replaced his first)", p)
		}
		for _, c := range []struct {
			name        string
			req         caisse.CheckoutRequest
			key         string
			status      int
			code        string
			wantMessage string
		}{
			{"a wrong key", as("carol", tee1), key + "x", 401, caisse.EUNAUTHORIZED, "checkout key"},
			{"a client_id without the key", as("carol", tee1), "", 400, caisse.ReasonInvalidClientID, "CAISSE_CHECKOUT_KEY"},
			{"the key without a client_id", as("", tee1), key, 400, caisse.ReasonInvalidClientID, "client_id"},
			{"a client_id of 201 characters", as(strings.Repeat("c", 201), tee1), key, 400, caisse.ReasonInvalidClientID, "200"},
		} {
			status, ans := a.checkoutAs(c.req, "198.51.100.20", c.key)
			if status != c.status || ans.Error.Code != c.code || !strings.Contains(ans.Error.Message, c.wantMessage) {
				t.Errorf("%s: %d %+v, want %d %s", c.name, status, ans.Error, c.status, c.code)
			}
		}
		if strings.Contains(a.logs.String(), key) {
			t.Fatal("the checkout key is in the logs")
		}
		// A caisse with no checkout key takes no key.
		b := setup(t, db, withStripe(mock))
		b.putProduct("tee", 10)
		if status, ans := b.checkoutAs(as("alice", tee1), shop, key); status != http.StatusUnauthorized {
			t.Fatalf("a key sent to a caisse without one: %d %+v", status, ans.Error)
		}
	})
}

// The checkout key is a secret: --help says only that it is set, and a key
// refused by validation is named by its variable, never shown.
func TestCheckoutKeyIsNeverShown(t *testing.T) {
	t.Parallel()
	const key = "help-checkout-key-0123456789abcdef"
	code, out := run(map[string]string{"CAISSE_CHECKOUT_KEY": key}, "serve", "--help")
	if code != 0 || strings.Contains(out, key) || !strings.Contains(out, "(set from $CAISSE_CHECKOUT_KEY)") || !strings.Contains(out, "-checkout-key") {
		t.Fatalf("serve --help with a checkout key: exit %d\n%s", code, out)
	}
	short := "short key secret"
	vars := map[string]string{"STRIPE_WEBHOOK_SECRET": testSecret, "CAISSE_ADDR": "127.0.0.1:0",
		"CAISSE_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "c.db"), "CAISSE_CHECKOUT_KEY": short}
	if code, out := run(vars, "serve"); code == 0 || !strings.Contains(out, "CAISSE_CHECKOUT_KEY") || strings.Contains(out, short) {
		t.Fatalf("a short checkout key: exit %d, output %q: want an error naming CAISSE_CHECKOUT_KEY without its value", code, out)
	}
}

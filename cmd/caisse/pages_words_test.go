package main

import (
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/stripe"
)

// getIn fetches a page as a browser asking for a language (none when
// accept is empty) would.
func getIn(t *testing.T, c *http.Client, u, accept string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if accept != "" {
		req.Header.Set("Accept-Language", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// wants reports each of wants a page does not show, and each of unwanted
// it does.
func wants(t *testing.T, what, page string, want []string, unwanted ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Errorf("%s does not show %q", what, w)
		}
	}
	for _, u := range unwanted {
		if strings.Contains(page, u) {
			t.Errorf("%s shows %q", what, u)
		}
	}
}

// rowOf returns the HTML of the table row that starts with marker.
func rowOf(t *testing.T, page, marker string) string {
	t.Helper()
	i := strings.Index(page, marker)
	if i < 0 {
		t.Fatalf("no row %s in the page:\n%s", marker, page)
	}
	end := strings.Index(page[i:], "</tr>")
	if end < 0 {
		t.Fatalf("row %s does not end", marker)
	}
	return page[i : i+end]
}

// The owner's pages in French and in English: chosen by the switch, else
// by the browser, else by CAISSE_LOCALE; the order's page says what was
// sold, to whom, what the bank declined and where the dispute stands; the
// products page edits the artist; a delivery waiting for its next attempt
// says when, and why the last one failed.
func TestAdminPagesInFrenchAndEnglish(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		// The shop's endpoint is down for an hour: its webhooks wait.
		shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		}))
		t.Cleanup(shop.Close)
		a := setup(t, db, func(env map[string]string) {
			env["CAISSE_LOCALE"] = "fr"
			env["CAISSE_NOTIFY_URLS"] = shop.URL + "/hooks/caisse"
			env["CAISSE_NOTIFY_SECRET"] = notifySecret
			// Long enough that a row asked to wait an hour is still waiting.
			env[testBackoff] = "1h"
		})
		if s := a.admin(http.MethodPut, "/api/admin/products/print-1", caisse.NewProductUpdate("Moonrise", 125000, "eur", 1), nil); s != http.StatusOK {
			t.Fatalf("PUT print-1: %d", s)
		}
		a.putProduct("print-2", 3)
		// A card declined, then the order paid, then disputed.
		sale := stripe.Example{OrderID: "o1", ProductID: "print-1", Amount: 125000, Currency: "eur", Email: "camille@example.com"}
		steps := []stripe.Example{sale, sale, sale, sale}
		steps[0].Type, steps[0].Unpaid = "checkout.session.completed", true
		steps[1].Type = "payment_intent.payment_failed"
		steps[2].Type = "payment_intent.succeeded"
		steps[3].Type = "charge.dispute.created"
		a.process(steps...)
		if o := a.order("o1"); o.Status != caisse.StatusDisputed || o.FailedAttempts != 1 {
			t.Fatalf("o1 is %s with %d declined attempts, want disputed with 1", o.Status, o.FailedAttempts)
		}
		c, _ := signedInClient(t, a)
		frenchMoney := caisse.FormatMoney(125000, "eur", "fr")
		if frenchMoney != "1\u202f250,00\u00a0€" {
			t.Fatalf("FormatMoney writes %q", frenchMoney)
		}
		note := "payment declined: Your card has insufficient funds."

		t.Run("French when the browser asks for it", func(t *testing.T) {
			status, page := getIn(t, c, a.url+"/admin/orders/o1", "fr-FR,fr;q=0.9")
			if status != http.StatusOK {
				t.Fatalf("answered %d", status)
			}
			wants(t, "the order in French", page, []string{`<html lang="fr">`, "<h1>Commande o1", frenchMoney, "Moonrise",
				"Prix unitaire", "Camille Martin", "camille@example.com", "Tentatives refusées",
				"en attente de paiement → <b>payée</b>", html.EscapeString(note), "en attente de vos preuves", "frauduleux",
				"Historique", "Se déconnecter", `aria-pressed="true">Français`},
				"€1,250.00", "awaiting your evidence", "needs_response", "Timeline")
			_, page = getIn(t, c, a.url+"/admin/orders", "fr-FR,fr;q=0.9")
			wants(t, "the orders in French", page, []string{"<h1>Commandes</h1>", "1 × Moonrise", "contestée",
				`<option value="failed_attempts">tentatives de paiement refusées</option>`, "1 refusée(s)", frenchMoney})
			_, page = getIn(t, c, a.url+"/admin/", "fr-FR,fr;q=0.9")
			wants(t, "the dashboard in French", page, []string{"<h1>Tableau de bord</h1>", "Litiges en cours", "en attente de vos preuves",
				"événements dans la dernière heure", frenchMoney})
			_, page = getIn(t, c, a.url+"/admin/events?status=processed", "fr-FR,fr;q=0.9")
			wants(t, "the events in French", page, []string{"<h1>Événements</h1>", `<option value="processed" selected>traité</option>`, "traité"})
			_, page = getIn(t, http.DefaultClient, a.url+"/admin/signin", "fr-FR,fr;q=0.9")
			wants(t, "the sign-in form in French", page, []string{`<html lang="fr">`, "<h1>Connexion</h1>", "Jeton d’administration"})
		})

		t.Run("English when the browser asks for it", func(t *testing.T) {
			_, page := getIn(t, c, a.url+"/admin/orders/o1", "en-GB,en;q=0.9,fr;q=0.8")
			wants(t, "the order in English", page, []string{`<html lang="en">`, "<h1>Order o1", "€1,250.00", "Moonrise",
				"Unit price", "Line total", "Camille Martin", "Declined attempts", "awaiting payment → <b>paid</b>",
				html.EscapeString(note), "awaiting your evidence", "Timeline"},
				frenchMoney, "payée", "awaiting payment → <b>awaiting payment</b>")
			_, page = getIn(t, c, a.url+"/admin/orders?status=failed_attempts", "en")
			wants(t, "the orders with a declined attempt", page, []string{`data-order="o1"`, "1 × Moonrise", "disputed",
				`<option value="failed_attempts" selected>declined payment attempts</option>`})
		})

		t.Run("the shop's language when the browser asks for neither", func(t *testing.T) {
			for _, accept := range []string{"", "de-DE,de;q=0.9"} {
				_, page := getIn(t, c, a.url+"/admin/orders/o1", accept)
				wants(t, "the order for Accept-Language "+accept, page, []string{`<html lang="fr">`, "<h1>Commande o1", frenchMoney})
			}
		})

		t.Run("the switch sets the language, and it sticks", func(t *testing.T) {
			c, _ := signedInClient(t, a) // a browser of its own
			noRedirect := *c
			noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, err := noRedirect.PostForm(a.url+"/admin/language", url.Values{"lang": {"en"}, "next": {"/admin/orders/o1"}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var cookie *http.Cookie
			for _, k := range resp.Cookies() {
				if k.Name == "caisse_lang" {
					cookie = k
				}
			}
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/orders/o1" || cookie == nil ||
				cookie.Value != "en" || cookie.Path != "/admin" || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
				t.Fatalf("the switch answered %d to %q with cookie %+v", resp.StatusCode, resp.Header.Get("Location"), cookie)
			}
			// Chosen English, for a browser that asks for French and a shop that speaks it.
			for _, path := range []string{"/admin/orders/o1", "/admin/products", "/admin/deliveries"} {
				_, page := getIn(t, c, a.url+path, "fr-FR,fr;q=0.9")
				wants(t, path+" after choosing English", page, []string{`<html lang="en">`, `aria-pressed="true">English`})
			}
			for _, next := range []string{"//evil.example/", "https://evil.example/admin/", "/admin/../x"} {
				resp, err := noRedirect.PostForm(a.url+"/admin/language", url.Values{"lang": {"fr"}, "next": {next}})
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if loc := resp.Header.Get("Location"); loc != "/admin/" {
					t.Errorf("the switch with next=%q went to %q", next, loc)
				}
			}
			if _, page := getIn(t, c, a.url+"/admin/products", "en"); !strings.Contains(page, `<html lang="fr">`) {
				t.Error("after choosing French the products page is not in French")
			}
			// Another site cannot choose the language for the owner.
			req, _ := http.NewRequest(http.MethodPost, a.url+"/admin/language", strings.NewReader("lang=en"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "https://evil.example")
			if resp, err := noRedirect.Do(req); err != nil {
				t.Fatal(err)
			} else if resp.Body.Close(); resp.StatusCode != http.StatusForbidden {
				t.Errorf("the switch posted from another origin answered %d, want 403", resp.StatusCode)
			}
			if _, page := getIn(t, c, a.url+"/admin/products", "en"); !strings.Contains(page, `<html lang="fr">`) {
				t.Error("a cross-origin POST changed the language")
			}
			resp, err = noRedirect.PostForm(a.url+"/admin/language", url.Values{"lang": {"klingon"}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("a language caisse does not speak answered %d", resp.StatusCode)
			}
		})

		t.Run("the artist is edited on the products page", func(t *testing.T) {
			post := func(form url.Values) int {
				t.Helper()
				resp, err := c.PostForm(a.url+"/admin/products/print-2", form)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			form := url.Values{"stock_was": {"3"}, "stock": {"3"}, "price": {""}, "artist_name": {"Léa Martin"},
				"artist_email": {"lea@example.com, studio@example.com"}, "artist_share": {"62,5 %"}, "artist_locale": {"fr"}}
			if status := post(form); status != http.StatusOK {
				t.Fatalf("saving the artist answered %d", status)
			}
			p := a.product("print-2")
			if p.ArtistName != "Léa Martin" || strings.Join(p.ArtistEmail, " ") != "lea@example.com studio@example.com" ||
				p.ArtistShare != 6250 || p.ArtistLocale != "fr" || p.Stock != 3 || p.Price != 2500 {
				t.Fatalf("print-2 after saving its artist: %+v", p)
			}
			_, page := getIn(t, c, a.url+"/admin/products", "fr")
			wants(t, "the products in French", page, []string{"Léa Martin", "lea@example.com, studio@example.com", "part 62,5\u00a0%",
				"e-mails en français", `value="62,5"`, `<option value="fr" selected>français</option>`, `placeholder="25,00"`})
			// A save of the price alone leaves the artist (and the stock) as they are.
			if status := post(url.Values{"stock_was": {"3"}, "stock": {"3"}, "price": {"30,00"}}); status != http.StatusOK {
				t.Fatalf("saving a price answered %d", status)
			}
			if p := a.product("print-2"); p.ArtistName != "Léa Martin" || len(p.ArtistEmail) != 2 || p.ArtistShare != 6250 || p.Price != 3000 || p.Stock != 3 {
				t.Fatalf("print-2 after a price change: %+v", p)
			}
			// Emptied fields clear the artist.
			form = url.Values{"artist_name": {""}, "artist_email": {""}, "artist_share": {""}, "artist_locale": {""}}
			if status := post(form); status != http.StatusOK {
				t.Fatalf("clearing the artist answered %d", status)
			}
			if p := a.product("print-2"); p.ArtistName != "" || len(p.ArtistEmail) != 0 || p.ArtistShare != 0 || p.ArtistLocale != "" || p.Stock != 3 {
				t.Fatalf("print-2 after clearing its artist: %+v", p)
			}
			for field, bad := range map[string]string{"artist_share": "lots", "artist_email": "not an address"} {
				if status := post(url.Values{field: {bad}}); status != http.StatusBadRequest {
					t.Errorf("%s=%q answered %d", field, bad, status)
				}
			}
		})

		t.Run("a waiting delivery says when it is tried next, and why the last try failed", func(t *testing.T) {
			var d caisse.Delivery
			a.until("a webhook delivery tried and waiting", func() bool {
				var l struct{ Data []caisse.Delivery }
				a.admin(http.MethodGet, "/api/admin/outbox?channel=webhook&status=pending", nil, &l)
				for _, x := range l.Data {
					// Asked to wait, the row has spent no attempt (0) but says why it waits.
					if x.LastError != "" && x.NextAttemptAt != nil {
						d = x
						return true
					}
				}
				return false
			})
			_, page := getIn(t, c, a.url+"/admin/deliveries?channel=webhook", "en")
			row := rowOf(t, page, `data-delivery="`+d.ID+`"`)
			wants(t, "the waiting delivery in English", row, []string{"waiting to be sent",
				"next attempt " + d.NextAttemptAt.UTC().Format("Jan 2, 2006 15:04 UTC"), html.EscapeString(d.LastError)})
			_, page = getIn(t, c, a.url+"/admin/deliveries?channel=webhook", "fr")
			row = rowOf(t, page, `data-delivery="`+d.ID+`"`)
			wants(t, "the waiting delivery in French", row, []string{"en attente d’envoi", "prochain essai le ", html.EscapeString(d.LastError)})
			wants(t, "the deliveries in French", page, []string{`<option value="webhook" selected>webhook</option>`,
				`<option value="pending">en attente d’envoi</option>`})
		})
	})
}

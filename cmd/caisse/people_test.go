package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/stripe"
)

// permutations returns every ordering of n things, as lists of indexes.
func permutations(n int) [][]int {
	if n == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// checkoutEvents are the events Stripe sends about one order paid through
// a shop-made Checkout Session: its payment intent carries the order's
// metadata (as caisse's checkout sets it) but no receipt_email, the charge
// the card's billing address, and only the session says who the customer
// is and in which language. edit changes each event's object.
func checkoutEvents(t *testing.T, order, email, locale string, edit func(typ string, obj map[string]any)) map[string][]byte {
	t.Helper()
	ex := stripe.Example{OrderID: order, ProductID: "tee-m", Amount: 2500, Email: email}
	out := map[string][]byte{}
	for _, typ := range []string{"payment_intent.created", "payment_intent.succeeded", "charge.succeeded", "checkout.session.completed"} {
		e := ex
		e.Type = typ
		out[typ] = build(t, e, func(obj map[string]any) {
			switch typ {
			case "checkout.session.completed":
				obj["locale"] = locale
			case "payment_intent.created", "payment_intent.succeeded":
				obj["receipt_email"] = nil
				if typ == "payment_intent.created" {
					obj["status"], obj["amount_received"] = "requires_payment_method", 0
				}
			}
			if edit != nil {
				edit(typ, obj)
			}
		})
	}
	return out
}

// confirmations are the confirmation emails the mail server received for
// an order: its id appears in the subject.
func confirmations(t *testing.T, r *receivers, order string) []smtptest.Email {
	t.Helper()
	var out []smtptest.Email
	for _, m := range r.mail.Messages() {
		e := smtptest.ParseEmail(t, m.Data)
		if strings.Contains(e.Subject, order+" ") || strings.HasSuffix(e.Subject, order) {
			e.Header["X-Test-To"] = m.To
			out = append(out, e)
		}
	}
	return out
}

// The buyer hears of the order once, at the address and in the language
// the Checkout Session gives, whatever order Stripe's events come in and
// however often: every one of the 24 orderings of a payment intent
// created and succeeded, its charge and the session, each event delivered
// once or twice. An address that comes ten minutes after the payment
// still gets the one confirmation; one that never comes is recorded not
// sent, saying why, once CAISSE_ADDRESS_WAIT is over. caisse's clock is
// the test's, so "later" needs no sleep.
func TestConfirmationWhateverTheOrderOfEvents(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		r := startReceivers(t, smtptest.Options{})
		a := setup(t, db, r.env, func(env map[string]string) {
			env[testClock] = ""
			env["CAISSE_LOCALE"] = "en"
		})
		a.putPrice("tee-m", 2500, 1000)
		types := []string{"payment_intent.created", "payment_intent.succeeded", "charge.succeeded", "checkout.session.completed"}
		rng := rand.New(rand.NewPCG(20, uint64(len(db))))
		var ids []string
		orders := map[string]string{} // order → the session's address
		for i, perm := range permutations(len(types)) {
			order := fmt.Sprintf("o_perm_%02d", i)
			email := fmt.Sprintf("buyer%02d@example.com", i)
			orders[order] = email
			events := checkoutEvents(t, order, email, "fr", nil)
			var deliveries [][]byte
			for _, k := range perm {
				deliveries = append(deliveries, events[types[k]])
				ev, _ := stripe.DecodeEvent(events[types[k]])
				ids = append(ids, ev.ID)
			}
			for _, k := range perm {
				if rng.IntN(2) == 0 {
					at := rng.IntN(len(deliveries) + 1)
					deliveries = append(deliveries[:at], append([][]byte{events[types[k]]}, deliveries[at:]...)...)
				}
			}
			for _, p := range deliveries {
				a.deliver(p)
			}
		}
		a.wait(ids...)
		// The emails wait a moment (CAISSE's email delay) for the rest of
		// the customer's events; caisse's clock moves past it.
		a.clock.advance(5 * time.Second)
		a.until("a confirmation for each order", func() bool { return len(r.mail.Messages()) >= len(orders) })
		a.until("every email sent", a.drained)
		for order, email := range orders {
			got := confirmations(t, r, order)
			if len(got) != 1 {
				t.Fatalf("order %s: %d confirmation emails, want 1", order, len(got))
			}
			if to := got[0].Header["X-Test-To"]; len(to) != 1 || to[0] != email || got[0].Header.Get("Content-Language") != "fr" {
				t.Errorf("order %s: confirmation to %v in %q, want %s in fr (the session's)", order, to, got[0].Header.Get("Content-Language"), email)
			}
			rows := a.deliveriesOf("channel=email&order=" + order)
			if len(rows) != 1 || rows[0].Topic != caisse.TopicOrderConfirmation || rows[0].Status != caisse.DeliveryDelivered ||
				rows[0].Recipient != email || rows[0].Attempts != 1 {
				t.Errorf("order %s: email rows %+v, want one confirmation delivered to %s at the first attempt", order, rows, email)
			}
		}

		// The address comes ten minutes after the payment, with the
		// session: the confirmation waited for it, spending no attempt.
		late := checkoutEvents(t, "o_late", "late@example.com", "fr", func(typ string, obj map[string]any) {
			if typ == "charge.succeeded" {
				obj["billing_details"] = map[string]any{"email": nil, "name": nil}
				obj["receipt_email"] = nil
			}
		})
		a.deliverAndWait(late["payment_intent.succeeded"])
		a.deliverAndWait(late["charge.succeeded"])
		if o := a.order("o_late"); o.Status != caisse.StatusPaid || o.CustomerEmail != "" {
			t.Fatalf("o_late before its session: %+v", o)
		}
		a.clock.advance(5 * time.Second)
		waiting := func(order string) func() bool {
			return func() bool {
				rows := a.deliveriesOf("channel=email&order=" + order)
				return len(rows) == 1 && strings.HasPrefix(rows[0].LastError, "waiting for the customer's address") && rows[0].Attempts == 0 &&
					rows[0].Status == caisse.DeliveryPending
			}
		}
		a.until("the confirmation of o_late waits for an address", waiting("o_late"))
		a.clock.advance(10 * time.Minute)
		a.deliverAndWait(late["checkout.session.completed"])
		a.clock.advance(5 * time.Second)
		a.until("o_late's confirmation sent", func() bool { return len(confirmations(t, r, "o_late")) > 0 })
		a.until("every email sent", a.drained)
		if got := confirmations(t, r, "o_late"); len(got) != 1 || got[0].Header["X-Test-To"][0] != "late@example.com" ||
			got[0].Header.Get("Content-Language") != "fr" {
			t.Fatalf("o_late: %d confirmations %+v, want one to late@example.com in fr", len(got), got)
		}
		if rows := a.deliveriesOf("channel=email&order=o_late"); len(rows) != 1 || rows[0].Attempts != 1 {
			t.Errorf("o_late's email rows %+v: waiting must not count as an attempt", rows)
		}

		// No address ever comes: once the wait is over the email is
		// recorded not sent, and says why.
		none := checkoutEvents(t, "o_none", "none@example.com", "fr", func(typ string, obj map[string]any) {
			if typ == "charge.succeeded" {
				obj["billing_details"] = map[string]any{"email": nil}
				obj["receipt_email"] = nil
			}
		})
		a.deliverAndWait(none["payment_intent.succeeded"])
		a.deliverAndWait(none["charge.succeeded"])
		a.clock.advance(5 * time.Second)
		a.until("the confirmation of o_none waits for an address", waiting("o_none"))
		a.clock.advance(time.Hour)
		a.until("o_none's confirmation skipped", func() bool {
			rows := a.deliveriesOf("channel=email&order=o_none")
			return len(rows) == 1 && rows[0].Status == caisse.DeliverySkipped
		})
		rows := a.deliveriesOf("channel=email&order=o_none")
		if !strings.Contains(rows[0].LastError, "no address is known for the customer") || !strings.Contains(rows[0].LastError, "CAISSE_ADDRESS_WAIT") {
			t.Errorf("o_none's skipped email says %q, want why", rows[0].LastError)
		}
		if got := confirmations(t, r, "o_none"); len(got) != 0 {
			t.Errorf("o_none: %d emails sent without an address", len(got))
		}
		var o caisse.Order
		if s := a.admin(http.MethodGet, "/api/admin/orders/o_perm_00", nil, &o); s != http.StatusOK || o.Customer.Name != "Camille Martin" ||
			o.Customer.Email != "buyer00@example.com" || o.Locale != "fr" {
			t.Errorf("the order shows its customer as %+v (locale %q)", o.Customer, o.Locale)
		}
	})
}

// The gallery sells an artwork whose artist is named with two addresses
// and a 60 % share: each address gets one email about the sale, in the
// artist's language, with the work, its price and the share in money, and
// nothing of who bought it; the shop's systems get one product.sold. A
// refund tells each address once that the sale is cancelled. Events come
// shuffled and twice, and are replayed: nothing is said twice.
func TestArtistToldOfEachSale(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		r := startReceivers(t, smtptest.Options{})
		a := setup(t, db, r.env)
		body := map[string]any{"name": "Les Nymphéas bleus", "price": 900000, "currency": "eur", "stock": 1,
			"artist_name": "Claude Monet", "artist_email": []string{"claude@example.com", "atelier@example.com"},
			"artist_share": 60, "artist_locale": "fr", "sanity_id": "artwork-nympheas"}
		var p caisse.Product
		if s := a.admin(http.MethodPut, "/api/admin/products/nympheas", body, &p); s != http.StatusOK ||
			p.ArtistShare != 6000 || p.ArtistEmail.String() != "claude@example.com, atelier@example.com" {
			t.Fatalf("PUT the artwork: %d %+v", s, p)
		}
		buyer := func(typ string, obj map[string]any) {
			switch typ {
			case "checkout.session.completed":
				obj["customer_details"] = map[string]any{"email": "camille@example.com", "name": "Camille Martin", "phone": "+33 6 12 34 56 78",
					"address": map[string]any{"line1": "12 rue des Lilas", "city": "Lyon", "postal_code": "69003", "country": "FR"}}
				obj["collected_information"] = map[string]any{"shipping_details": map[string]any{"name": "Camille Martin",
					"address": map[string]any{"line1": "12 rue des Lilas", "city": "Lyon", "postal_code": "69003", "country": "FR"}}}
			case "payment_intent.succeeded":
				obj["shipping"] = map[string]any{"name": "Camille Martin", "phone": "+33 6 12 34 56 78",
					"address": map[string]any{"line1": "12 rue des Lilas", "city": "Lyon", "postal_code": "69003", "country": "FR"}}
			case "charge.succeeded":
				obj["billing_details"] = map[string]any{"email": "camille@example.com", "name": "Camille Martin", "phone": "+33 6 12 34 56 78"}
			}
		}
		sale := stripe.Example{OrderID: "o_monet", ProductID: "nympheas", Amount: 900000, Email: "camille@example.com"}
		var payloads [][]byte
		for _, typ := range []string{"checkout.session.completed", "payment_intent.succeeded", "charge.succeeded"} {
			ex := sale
			ex.Type = typ
			payloads = append(payloads, build(t, ex, func(obj map[string]any) { buyer(typ, obj) }))
		}
		refund := sale
		refund.Type = "charge.refunded"
		refundPayload := build(t, refund, nil)
		rng := rand.New(rand.NewPCG(9, uint64(len(db))))
		deliverAll := func(ps [][]byte) []string {
			var deliveries [][]byte
			var ids []string
			for _, p := range ps {
				ev, _ := stripe.DecodeEvent(p)
				ids = append(ids, ev.ID)
				for range 1 + rng.IntN(2) {
					deliveries = append(deliveries, p)
				}
			}
			rng.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
			for _, p := range deliveries {
				a.deliver(p)
			}
			a.wait(ids...)
			return ids
		}
		artistMail := func(topic string) []smtptest.Email {
			var out []smtptest.Email
			for _, m := range r.mail.Messages() {
				e := smtptest.ParseEmail(t, m.Data)
				var d caisse.Delivery
				id, _, _ := strings.Cut(strings.Trim(e.Header.Get("Message-Id"), "<>"), ".")
				id, _, _ = strings.Cut(id, "@")
				if s := a.admin(http.MethodGet, "/api/admin/outbox/"+id, nil, &d); s == http.StatusOK && d.Topic == topic {
					e.Header["X-Test-To"] = m.To
					out = append(out, e)
				}
			}
			return out
		}
		const share, price = "5\u202f400,00\u00a0€", "9\u202f000,00\u00a0€"
		check := func(topic string, must ...string) {
			t.Helper()
			a.until("two "+topic+" emails", func() bool { return len(artistMail(topic)) >= 2 })
			got := artistMail(topic)
			var to []string
			for _, e := range got {
				to = append(to, e.Header["X-Test-To"]...)
				whole := e.Subject + "\n" + e.Text + "\n" + e.HTML
				for _, m := range must {
					// Visible folds the no-break spaces as a reader sees them.
					if !strings.Contains(e.Text, m) || !strings.Contains(smtptest.Visible(e.HTML), strings.Join(strings.Fields(m), " ")) {
						t.Errorf("%s email does not say %q:\n%s", topic, m, e.Text)
					}
				}
				for _, never := range []string{"Camille", "Martin", "camille@example.com", "+33", "12 34 56 78", "Lilas", "Lyon"} {
					if strings.Contains(whole, never) {
						t.Errorf("the artist's %s email shows the buyer's %q:\n%s", topic, never, whole)
					}
				}
				if e.Header.Get("Content-Language") != "fr" {
					t.Errorf("the artist's %s email is in %q, want fr (artist_locale)", topic, e.Header.Get("Content-Language"))
				}
			}
			slices.Sort(to)
			if len(got) != 2 || strings.Join(to, " ") != "atelier@example.com claude@example.com" {
				t.Fatalf("%d %s emails to %v, want one to each artist address", len(got), topic, to)
			}
		}
		saleIDs := deliverAll(payloads)
		if o := a.order("o_monet"); o.Shipping == nil || o.Shipping.Address.City != "Lyon" {
			t.Fatalf("o_monet goes to %+v, want the buyer's address in Lyon (which the artist is never told)", o.Shipping)
		}
		check(caisse.TopicArtistSale, "Les Nymphéas bleus", price, share, "o_monet")
		a.until("every delivery made", a.drained)
		sold := 0
		for _, req := range r.shop.requests() {
			var m outboundMessage
			if json.Unmarshal(req.Body, &m) == nil && m.Type == caisse.HookProductSold {
				sold++
				if !strings.Contains(string(m.Data), `"order_id":"o_monet"`) || !strings.Contains(string(m.Data), `"id":"nympheas"`) ||
					strings.Contains(string(req.Body), "camille") || strings.Contains(string(req.Body), "Camille") {
					t.Errorf("product.sold says %s", m.Data)
				}
			}
		}
		if sold != 1 {
			t.Errorf("%d product.sold webhooks, want 1", sold)
		}

		refundIDs := deliverAll([][]byte{refundPayload})
		check(caisse.TopicArtistSaleCancelled, "Les Nymphéas bleus", "o_monet")
		if p := a.product("nympheas"); p.Stock != 1 || !p.IsAvailable {
			t.Errorf("after the refund the artwork is %+v, want back in stock", p)
		}

		// Everything again, replayed: nobody hears anything twice.
		ids := append(saleIDs, refundIDs...)
		a.forget(ids...)
		for _, id := range ids {
			a.admin(http.MethodPost, "/api/admin/events/"+id+"/replay", nil, nil)
		}
		a.wait(ids...)
		a.until("every delivery made", a.drained)
		if n, c := len(artistMail(caisse.TopicArtistSale)), len(artistMail(caisse.TopicArtistSaleCancelled)); n != 2 || c != 2 {
			t.Errorf("after a replay: %d sale and %d cancellation emails, want 2 and 2", n, c)
		}
		if rows := a.deliveriesOf("channel=email&order=o_monet"); len(rows) != 6 {
			// Two to the artist for the sale, two for its cancellation, the
			// buyer's confirmation and refund.
			t.Errorf("%d email rows for o_monet, want 6: %+v", len(rows), rows)
		}
	})
}

// Sanity hears of every change of a product's availability, not only of
// sales: a new artwork imported from a catalogue is available, a stock
// edit to 0 makes it unavailable, a restock available again; and `caisse
// products sync-cms --all` tells a dataset that had none of the documents
// when caisse first wrote them about every product.
func TestSanityHearsEveryAvailabilityChange(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		r := startReceivers(t, smtptest.Options{})
		a := setup(t, db, r.env)
		r.sanity.AddDocument("artwork-1")
		available := func(doc string) func() bool {
			return func() bool { d, _ := r.sanity.Document(doc); return d["isAvailable"] == true }
		}
		unavailable := func(doc string) func() bool {
			return func() bool { d, _ := r.sanity.Document(doc); return d["isAvailable"] == false }
		}
		dir := t.TempDir()
		file := filepath.Join(dir, "artworks.csv")
		write := func(content string) {
			if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write("id;name;price;currency;stock;sanity_id\nartwork-1;Les Nymphéas bleus;9000,00;eur;1;artwork-1\n")
		if out, err := a.cli("products", "import", file); err != nil {
			t.Fatalf("import: %v\n%s", err, out)
		}
		a.until("Sanity sees the imported artwork available", available("artwork-1"))

		if s := a.admin(http.MethodPut, "/api/admin/products/artwork-1", map[string]any{"stock": 0}, nil); s != http.StatusOK {
			t.Fatalf("stock edit: %d", s)
		}
		a.until("Sanity sees it unavailable after a stock edit to 0", unavailable("artwork-1"))

		write("id;stock\nartwork-1;2\n")
		if out, err := a.cli("products", "import", "--set-stock", file); err != nil {
			t.Fatalf("restock: %v\n%s", err, out)
		}
		a.until("Sanity sees it available after a restock", available("artwork-1"))

		// Products made before their documents existed: their updates
		// patched nothing. sync-cms --all tells every one.
		for _, id := range []string{"tee-s", "tee-m", "tee-l"} {
			a.putProduct(id, 3)
		}
		a.putProduct("tee-xl", 0)
		a.until("the new products' updates sent", a.drained)
		for _, id := range []string{"tee-s", "tee-m", "tee-l", "tee-xl"} {
			r.sanity.AddDocument(id)
		}
		out, err := a.cli("products", "sync-cms", "--all")
		if err != nil || !strings.Contains(out, "queued the availability of 5 product(s)") {
			t.Fatalf("sync-cms --all: %v\n%s", err, out)
		}
		for _, id := range []string{"tee-s", "tee-m", "tee-l", "artwork-1"} {
			a.until("Sanity sees "+id+" available", available(id))
		}
		a.until("Sanity sees tee-xl unavailable", unavailable("tee-xl"))
		if _, err := a.cli("products", "sync-cms"); err == nil {
			t.Errorf("sync-cms with neither --all nor ids did something")
		}
	})
}

package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/stripe"
)

// A clothing shop's order (in French: a declined card, then paid, then part
// refunded) and a gallery's (in English, in yen, paid then refunded): each
// event delivered one to three times in a shuffled order, then all replayed,
// gives exactly one email per transition, to the customer, in the
// customer's language, with the right amount and Stripe's message.
func TestCustomerEmailsOncePerTransition(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		r := startReceivers(t, smtptest.Options{})
		// caisse's clock is the test's: the emails wait their delay (for
		// the rest of the customer's events, the session's language among
		// them) however slowly a loaded machine delivers the events.
		a := setup(t, db, r.env, func(env map[string]string) { env[testClock] = "" })
		a.putPrice("tee-m", 2500, 10)
		if s := a.admin(http.MethodPut, "/api/admin/products/print-jp", caisse.NewProductUpdate("Estampe", 5000, "jpy", 1), nil); s != http.StatusOK {
			t.Fatalf("PUT print-jp: %d", s)
		}
		shop := stripe.Example{OrderID: "o_shop", ProductID: "tee-m", Quantity: 2, Amount: 5000, Email: "camille@example.com"}
		french := func(obj map[string]any) {
			if obj["object"] == "checkout.session" {
				obj["locale"] = "fr"
			}
		}
		art := stripe.Example{OrderID: "o_art", ProductID: "print-jp", Amount: 5000, Currency: "jpy", Email: "kenji@example.com"}
		var payloads [][]byte
		for _, ev := range []struct {
			ex   stripe.Example
			typ  string
			edit func(map[string]any)
		}{
			{shop, "payment_intent.payment_failed", func(obj map[string]any) {
				obj["last_payment_error"] = map[string]any{"message": "Votre carte a été refusée.", "code": "card_declined"}
			}},
			{shop, "checkout.session.completed", french},
			{shop, "payment_intent.succeeded", nil},
			{func() stripe.Example { e := shop; e.Refunded = 1000; return e }(), "charge.refunded", nil},
			{art, "checkout.session.completed", func(obj map[string]any) { obj["locale"] = "en" }},
			{art, "payment_intent.succeeded", nil},
			{art, "charge.refunded", nil},
		} {
			ex := ev.ex
			ex.Type = ev.typ
			payloads = append(payloads, build(t, ex, ev.edit))
		}
		rng := rand.New(rand.NewPCG(7, uint64(len(db))))
		var deliveries [][]byte
		for _, p := range payloads {
			for range 1 + rng.IntN(3) {
				deliveries = append(deliveries, p)
			}
		}
		rng.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
		var ids []string
		for _, p := range payloads {
			ev, _ := stripe.DecodeEvent(p)
			ids = append(ids, ev.ID)
		}
		for _, p := range deliveries {
			a.deliver(p)
		}
		a.wait(ids...)
		a.forget(ids...)
		for _, id := range ids {
			a.admin(http.MethodPost, "/api/admin/events/"+id+"/replay", nil, nil)
		}
		a.wait(ids...)
		a.clock.advance(5 * time.Second)
		a.until("every email sent", a.drained)

		// The emails expected: one per transition the timelines show, and
		// one per declined attempt.
		want := map[string]int{"o_shop " + caisse.TopicPaymentFailed: 1}
		for _, id := range []string{"o_shop", "o_art"} {
			o := a.order(id)
			for _, e := range o.Timeline {
				switch {
				case e.From == e.To:
					// A note (a declined attempt), not a transition.
				case e.To == caisse.StatusPaid && e.From != caisse.StatusRefunded && e.From != caisse.StatusPartiallyRefunded:
					want[id+" "+caisse.TopicOrderConfirmation] = 1 // the order paid, said once
				case e.To == caisse.StatusPartiallyRefunded:
					// The refunded amount reaching 10,00 €, said once
					// however often the order comes back to this status.
					want[id+" "+caisse.TopicPartialRefund] = 1
				case e.To == caisse.StatusRefunded:
					want[id+" "+caisse.TopicOrderRefunded] = 1
				}
			}
		}
		got := map[string]int{}
		seen := map[string]bool{}
		for _, m := range r.mail.Messages() {
			e := smtptest.ParseEmail(t, m.Data)
			msgID := strings.Trim(e.Header.Get("Message-Id"), "<>")
			id, host, _ := strings.Cut(msgID, "@")
			id, _, _ = strings.Cut(id, ".") // the database's id follows the delivery's
			if seen[id] || host != "lune.example" {
				t.Errorf("Message-ID %s: sent twice, or not on the shop's domain", msgID)
			}
			seen[id] = true
			var d caisse.Delivery
			if s := a.admin(http.MethodGet, "/api/admin/outbox/"+id, nil, &d); s != http.StatusOK || d.Status != caisse.DeliveryDelivered {
				t.Fatalf("the delivery behind Message-ID %s: %d %+v", msgID, s, d)
			}
			got[d.OrderID+" "+d.Topic]++
			lang, to := "en", "kenji@example.com"
			if d.OrderID == "o_shop" {
				lang, to = "fr", "camille@example.com"
			}
			if len(m.To) != 1 || m.To[0] != to || e.Header.Get("Content-Language") != lang {
				t.Errorf("%s email of %s: to %v in %q, want %s in %s", d.Topic, d.OrderID, m.To, e.Header.Get("Content-Language"), to, lang)
			}
			for _, must := range map[string][]string{
				// card_declined, explained in the customer's words.
				"o_shop " + caisse.TopicPaymentFailed:    {"Votre banque a refusé le paiement."},
				"o_shop " + caisse.TopicPartialRefund:    {"10,00\u00a0€"},
				"o_art " + caisse.TopicOrderConfirmation: {"¥5,000", "Estampe"},
				"o_art " + caisse.TopicOrderRefunded:     {"¥5,000"},
			}[d.OrderID+" "+d.Topic] {
				// Visible folds the no-break spaces as a reader sees them.
				if !strings.Contains(e.Text, must) || !strings.Contains(smtptest.Visible(e.HTML), strings.Join(strings.Fields(must), " ")) {
					t.Errorf("%s email of %s does not say %q:\n%s", d.Topic, d.OrderID, must, e.Text)
				}
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("emails sent %v, want one per transition %v", got, want)
		}
	})
}

// Sanity gets each artwork's availability as it is when the update is sent,
// so updates in any order converge; a refund makes the artwork available
// again. The draft twin is patched too, and no transaction applies twice.
func TestSanityAvailabilityConverges(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		r := startReceivers(t, smtptest.Options{})
		for _, id := range []string{"art-1", "art-2", "drafts.art-2", "art-3"} {
			r.sanity.AddDocument(id)
		}
		a := setup(t, db, r.env)
		for _, id := range []string{"art-1", "art-2", "art-3"} {
			a.putPrice(id, 90000, 1)
		}
		var payloads [][]byte
		for _, ev := range []stripe.Example{
			{Type: "checkout.session.completed", OrderID: "o1", ProductID: "art-1", Amount: 90000},
			{Type: "checkout.session.completed", OrderID: "o2", ProductID: "art-2", Amount: 90000},
			{Type: "charge.refunded", OrderID: "o2", ProductID: "art-2", Amount: 90000},
			{Type: "checkout.session.completed", OrderID: "o3", ProductID: "art-3", Amount: 90000, Unpaid: true},
			{Type: "checkout.session.expired", OrderID: "o4", ProductID: "art-3", Amount: 90000},
		} {
			payloads = append(payloads, build(t, ev, nil))
		}
		// art-2 sells first, so its refund makes it available again; the rest
		// comes in any order, some of it twice.
		a.deliverAndWait(payloads[1])
		rng := rand.New(rand.NewPCG(11, uint64(len(db))))
		for _, i := range rng.Perm(len(payloads)) {
			a.deliverAndWait(payloads[i])
			if rng.IntN(2) == 0 {
				a.deliver(payloads[i])
			}
		}
		a.until("every update sent", a.drained)
		for _, id := range []string{"art-1", "art-2", "art-3"} {
			p := a.product(id)
			for _, doc := range []string{id, "drafts." + id} {
				d, ok := r.sanity.Document(doc)
				if !ok {
					continue
				}
				changes := r.sanity.Changes(doc)
				if len(changes) == 0 && p.IsAvailable {
					continue // never sold out: the document keeps what the shop set
				}
				if len(changes) == 0 || d["isAvailable"] != p.IsAvailable || changes[len(changes)-1].Set["isAvailable"] != p.IsAvailable {
					t.Errorf("%s: isAvailable %v after %d changes, want %t (the product's)", doc, d["isAvailable"], len(changes), p.IsAvailable)
				}
				txs := map[string]bool{}
				for _, c := range changes {
					if txs[c.TransactionID] {
						t.Errorf("%s: transaction %s applied twice", doc, c.TransactionID)
					}
					txs[c.TransactionID] = true
				}
			}
		}
		if d, _ := r.sanity.Document("art-2"); d["isAvailable"] != true {
			t.Fatalf("the refunded artwork: %v, want available again", d)
		}
		if d, _ := r.sanity.Document("art-1"); d["isAvailable"] != false {
			t.Fatalf("the sold artwork: %v, want unavailable", d)
		}
	})
}

// The shop's endpoint gets each webhook signed as Standard Webhooks says;
// a 500 is retried with the same webhook-id, and a receiver that dedupes by
// it accepts each message once.
func TestOutboundWebhooksAreSignedAndRetried(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		r := startReceivers(t, smtptest.Options{})
		r.shop.setAnswer(func(req hookRequest, sameID int) int {
			if verifyStandardWebhook(notifySecret, req.Header, req.Body) != nil {
				return http.StatusUnauthorized
			}
			if sameID == 0 {
				return http.StatusInternalServerError // the first try of each message fails
			}
			return http.StatusOK
		})
		a := setup(t, db, r.env)
		a.putPrice("print-1", 90000, 1)
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "print-1", Amount: 90000})
		a.until("the webhooks delivered", a.drained)
		accepted := map[string]outboundMessage{}
		tries := map[string]int{}
		for _, req := range r.shop.requests() {
			if req.Path != "/hooks/caisse" || req.Status == http.StatusUnauthorized {
				t.Fatalf("a request to %s answered %d: a bad signature or path", req.Path, req.Status)
			}
			id := req.Header.Get("webhook-id")
			tries[id]++
			if req.Status == http.StatusOK {
				if _, dup := accepted[id]; dup {
					t.Errorf("message %s accepted twice", id)
				}
				var m outboundMessage
				if err := json.Unmarshal(req.Body, &m); err != nil {
					t.Fatalf("a body that is not JSON: %s", req.Body)
				}
				accepted[id] = m
			}
		}
		var types []string
		for id, m := range accepted {
			types = append(types, m.Type)
			if tries[id] != 2 {
				t.Errorf("%s (%s) was tried %d times, want 2: a 500, then the same webhook-id again", id, m.Type, tries[id])
			}
		}
		slices.Sort(types)
		if fmt.Sprint(types) != "[order.paid product.availability_changed product.sold]" {
			t.Fatalf("accepted %v, want order.paid, product.availability_changed and product.sold", types)
		}
		for _, m := range accepted {
			var data struct {
				ID, Status  string
				IsAvailable *bool `json:"is_available"`
			}
			json.Unmarshal(m.Data, &data)
			switch m.Type {
			case "order.paid":
				if data.ID != "o1" || data.Status != "paid" {
					t.Errorf("order.paid carries %s", m.Data)
				}
			case "product.availability_changed":
				if data.ID != "print-1" || data.IsAvailable == nil || *data.IsAvailable {
					t.Errorf("product.availability_changed carries %s", m.Data)
				}
			}
		}
		for _, d := range a.deliveriesOf("channel=webhook") {
			if d.Recipient != r.shop.url+"/hooks/caisse" || strings.Contains(d.Recipient, "token") {
				t.Errorf("a webhook row names its endpoint %q: want it without its query", d.Recipient)
			}
		}
	})
}

// The team hears of a dispute (amount, reason, evidence due) and of an
// oversold order, once each; a storm of 50 dead letters is one message with
// a count.
func TestTeamAlerts(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		r := startReceivers(t, smtptest.Options{})
		// caisse's clock is the test's: the storm's alerts wait together
		// however long a loaded machine takes to store the fifty events.
		a := setup(t, db, r.env, func(env map[string]string) { env[testClock] = "" })
		a.putPrice("art", 90000, 1)
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "art", Amount: 90000},
			stripe.Example{Type: "checkout.session.completed", OrderID: "o2", ProductID: "art", Amount: 90000},
			stripe.Example{Type: "charge.dispute.created", OrderID: "o1", ProductID: "art", Amount: 90000})
		var storm []string
		for i := range 50 {
			p := build(t, stripe.Example{Type: "charge.refunded", OrderID: fmt.Sprint("o_bad", i)}, func(obj map[string]any) { obj["amount_refunded"] = -1 })
			ev, _ := stripe.DecodeEvent(p)
			a.deliver(p)
			storm = append(storm, ev.ID)
		}
		a.wait(storm...)
		a.clock.advance(time.Minute)
		a.until("every alert sent", a.drained)
		var dispute, oversold, dead []string
		for _, req := range r.slack.requests() {
			text := slackText(t, req)
			switch {
			case strings.Contains(text, "Dispute opened"):
				dispute = append(dispute, text)
			case strings.Contains(text, "oversold"):
				oversold = append(oversold, text)
			case strings.Contains(text, "failed for good"):
				dead = append(dead, text)
			default:
				t.Errorf("an unexpected alert: %s", text)
			}
		}
		if len(dispute) != 1 || !strings.Contains(dispute[0], "€900.00") || !strings.Contains(dispute[0], "fraudulent") ||
			!strings.Contains(dispute[0], "Evidence due") {
			t.Errorf("dispute alerts %q: want one, with the amount, the reason and the evidence due date", dispute)
		}
		if len(oversold) != 1 || !strings.Contains(oversold[0], "o2") {
			t.Errorf("oversold alerts %q: want one, about o2", oversold)
		}
		if len(dead) != 1 || !strings.Contains(dead[0], "50 ×") {
			t.Errorf("dead letter alerts %q: want one grouped message with the count 50", dead)
		}
	})
}

// A delivery sent by an instance that dies before it records the answer is
// sent again after CAISSE_RESCUE_AFTER, with the same key the recipient
// knows it by: the email's Message-ID, Sanity's transactionId, the
// webhook-id. Nothing is lost.
func TestDeliveriesSurviveSIGKILL(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		mailHold := make(chan struct{})
		r := startReceivers(t, smtptest.Options{Hold: mailHold})
		r.sanity.AddDocument("art")
		dbURL := db.NewURL(t)
		env := append(r.envList(), "CAISSE_RESCUE_AFTER=2s")
		first := startInstance(t, dbURL, env...)
		first.putPrice("art", 90000, 1)
		// The new artwork's availability reaches Sanity before anything
		// is held.
		first.until("the artwork's first update sent", first.drained)
		created := len(r.sanity.Received())
		r.shop.setHold()
		sanityHold := make(chan struct{})
		r.sanity.SetHold(sanityHold)
		first.deliver(build(t, stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "art", Amount: 90000,
			Email: "buyer@example.com"}, nil))
		first.until("the email, the Sanity update and the webhooks on their way", func() bool {
			return len(r.mail.Messages()) == 1 && len(r.sanity.Received()) == created+1 && len(r.shop.requests()) == 3
		})
		// caisse dies between sending and hearing back.
		first.Cmd.Process.Signal(syscall.SIGKILL)
		<-first.Exit
		close(mailHold)
		close(sanityHold)
		r.shop.release()

		second := startInstance(t, dbURL, env...)
		second.until("everything delivered", second.drained)
		ids := func(keys []string) map[string]int {
			n := map[string]int{}
			for _, k := range keys {
				n[k]++
			}
			return n
		}
		var messageIDs, txIDs, hookIDs []string
		for _, m := range r.mail.Messages() {
			messageIDs = append(messageIDs, smtptest.ParseEmail(t, m.Data).Header.Get("Message-Id"))
		}
		for _, p := range r.sanity.Received()[created:] {
			txIDs = append(txIDs, p.RawQuery)
		}
		for _, h := range r.shop.requests() {
			hookIDs = append(hookIDs, h.Header.Get("webhook-id"))
		}
		for what, keys := range map[string][]string{"Message-ID": messageIDs, "transactionId": txIDs, "webhook-id": hookIDs} {
			for key, n := range ids(keys) {
				if n != 2 {
					t.Errorf("%s %s sent %d times, want twice: before the kill and after, with the same key", what, key, n)
				}
			}
		}
		if d, _ := r.sanity.Document("art"); d["isAvailable"] != false || len(r.sanity.Changes("art")) != created+1 {
			t.Errorf("Sanity: %v after %d changes, want unavailable, changed once (the second try is a known transaction)", d, len(r.sanity.Changes("art")))
		}
		for _, d := range second.deliveriesOf("") {
			if d.Channel != caisse.ChannelStripe && d.Status != caisse.DeliveryDelivered {
				t.Errorf("delivery %+v: want delivered", d)
			}
		}
	})
}

// A channel that hangs delays nothing else: webhooks are acknowledged and
// events processed while the shop's endpoint holds every request.
func TestHangingChannelDelaysNothing(t *testing.T) {
	t.Parallel()
	r := startReceivers(t, smtptest.Options{})
	r.shop.setHold()
	a := setup(t, sqliteDB, r.env)
	a.putPrice("tee", 2500, 1000)
	var ids []string
	for i := range 60 {
		ids = append(ids, a.send(stripe.Example{Type: "checkout.session.completed", OrderID: fmt.Sprint("o", i), ProductID: "tee"}))
	}
	a.wait(ids...)
	// Every order is paid and its email sent, while the endpoint still
	// holds its first requests.
	a.until("the emails sent", func() bool { return len(r.mail.Messages()) == 60 })
	if n := len(a.deliveriesOf("channel=webhook&status=delivered")); n != 0 {
		t.Fatalf("%d webhooks delivered to an endpoint that answers nothing", n)
	}
	r.shop.release()
	a.until("the webhooks delivered once the endpoint answers", a.drained)
}

package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/stripe"
)

// Fifty buyers pay for the last unit at the same moment: one sale, 49 orders
// flagged oversold, stock never below zero; refunding the winner puts the
// unit back.
func TestNoDoubleSale(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.putProduct("artwork", 1)
		const buyers = 50
		ids := make([]string, buyers)
		var wg sync.WaitGroup
		for i := range buyers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids[i] = fmt.Sprintf("evt_buyer_%02d", i)
				payload, _ := stripe.Build(stripe.Example{Type: "checkout.session.completed", EventID: ids[i],
					OrderID: fmt.Sprintf("ord_%02d", i), ProductID: "artwork", Amount: 90000})
				status, body := a.post("/webhooks/stripe", payload, sign(payload, testSecret, time.Now()))
				if status != http.StatusOK {
					t.Errorf("buyer %d: %d %s", i, status, body)
				}
			}()
		}
		wg.Wait()
		a.wait(ids...)

		var orders struct{ Data []caisse.Order }
		a.admin(http.MethodGet, "/api/admin/orders?limit=1000", nil, &orders)
		if len(orders.Data) != buyers {
			t.Fatalf("%d orders, want %d", len(orders.Data), buyers)
		}
		var winner string
		oversold := 0
		for _, o := range orders.Data {
			if o.Status != caisse.StatusPaid {
				t.Errorf("order %s is %s, want paid (money was taken)", o.ID, o.Status)
			}
			if o.Oversold {
				oversold++
			} else {
				if winner != "" {
					t.Fatalf("two orders hold the unit: %s and %s", winner, o.ID)
				}
				winner = o.ID
			}
		}
		if winner == "" || oversold != buyers-1 {
			t.Fatalf("winner %q, %d oversold, want one winner and %d oversold", winner, oversold, buyers-1)
		}
		if p := a.product("artwork"); p.Stock != 0 || p.Reserved != 0 || p.IsAvailable {
			t.Fatalf("product %+v, want stock 0", p)
		}
		if n := countLines(a.logs.String(), "double-sale attempt"); n != buyers-1 {
			t.Errorf("%d double-sale log lines, want %d", n, buyers-1)
		}

		// A full refund of the winner restocks; the losers stay oversold and hold nothing.
		a.process(stripe.Example{Type: "charge.refunded", OrderID: winner, Amount: 90000, Refunded: 90000})
		if p := a.product("artwork"); p.Stock != 1 || !p.IsAvailable {
			t.Fatalf("after the refund: %+v, want stock 1", p)
		}
		loser := orders.Data[0].ID
		if loser == winner {
			loser = orders.Data[1].ID
		}
		a.process(stripe.Example{Type: "payment_intent.succeeded", OrderID: loser, ProductID: "artwork", Amount: 90000})
		if o := a.order(loser); !o.Oversold {
			t.Fatalf("an oversold order lost its flag: %+v", o)
		}
		if p := a.product("artwork"); p.Stock != 1 {
			t.Fatalf("an oversold order took the restocked unit: stock %d", p.Stock)
		}
	})
}

// A reservation is not sold to someone else: a buyer paying by a delayed
// method holds the unit, and a card payment for it by another buyer is oversold.
func TestReservationIsNotTakenByAnother(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.putProduct("artwork", 1)
		a.process(
			stripe.Example{Type: "checkout.session.completed", OrderID: "slow", ProductID: "artwork", Unpaid: true},
			stripe.Example{Type: "checkout.session.completed", OrderID: "fast", ProductID: "artwork"},
			stripe.Example{Type: "checkout.session.async_payment_succeeded", OrderID: "slow", ProductID: "artwork"},
		)
		if o := a.order("fast"); !o.Oversold {
			t.Fatalf("the card payment took a reserved unit: %+v", o)
		}
		if o := a.order("slow"); o.Oversold || o.Status != caisse.StatusPaid {
			t.Fatalf("the reserving buyer lost the unit: %+v", o)
		}
		if p := a.product("artwork"); p.Stock != 0 || p.Reserved != 0 {
			t.Fatalf("product %+v", p)
		}
	})
}

func TestUnknownProductIsFlaggedNotDropped(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "o1", ProductID: "no-such-thing"})
		o := a.order("o1")
		if o.Status != caisse.StatusPaid || len(o.UnknownProducts) != 1 || o.UnknownProducts[0] != "no-such-thing" {
			t.Fatalf("order %+v", o)
		}
	})
}

func countLines(s, sub string) int {
	n := 0
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			n++
		}
	}
	return n
}

// Side effects are written to the outbox once per transition, however often
// the events that cause them are delivered or replayed.
func TestOutboxOncePerTransition(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db, startReceivers(t, smtptest.Options{}).env)
		a.putProduct("print", 1)
		paid, _ := stripe.Build(stripe.Example{Type: "checkout.session.completed", EventID: "evt_paid", OrderID: "o1", ProductID: "print"})
		late, _ := stripe.Build(stripe.Example{Type: "checkout.session.completed", EventID: "evt_late", OrderID: "o2", ProductID: "print"})
		refund, _ := stripe.Build(stripe.Example{Type: "charge.refunded", EventID: "evt_refund", OrderID: "o1", Refunded: 1000})
		for _, payload := range [][]byte{paid, late, refund} {
			for range 3 {
				a.deliver(payload)
			}
			e, _ := stripe.DecodeEvent(payload)
			a.wait(e.ID)
		}
		for _, id := range []string{"evt_paid", "evt_late", "evt_refund"} {
			a.forget(id)
			a.admin(http.MethodPost, "/api/admin/events/"+id+"/replay", nil, nil)
		}
		a.wait("evt_paid", "evt_late", "evt_refund")
		rows, err := a.raw().Query(`SELECT topic, order_id, count(*) FROM outbox GROUP BY topic, order_id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var kind, order string
			var n int
			rows.Scan(&kind, &order, &n)
			got = append(got, fmt.Sprintf("%s %s %d", kind, order, n))
		}
		slices.Sort(got) // the same order on both databases, whatever their collation
		want := []string{
			"order.oversold o2 1",           // o2 paid too late: no confirmation, no order.paid
			"order.paid o1 1",               // the shop's webhook
			"order.partially_refunded o1 1", // the shop's webhook
			"order_confirmation o1 1",
			"order_oversold o2 1",           // the team's alert
			"order_partially_refunded o1 1", // the customer's email
			"product.availability_changed o1 1",
			"product.sold o1 1",         // the shop's webhook: a line sold
			"product_availability  1",   // Sanity: the print was made, by the owner
			"product_availability o1 1", // Sanity: the print sold out
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("outbox:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

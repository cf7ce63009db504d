// Package scenario generates realistic Stripe event streams for a shop: many
// orders, each with a plausible life, as signed webhook deliveries. Tests and
// benchmarks use it to drive a real caisse.
package scenario

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/caisse/caisse/stripe"
)

// Product is a product of the generated shop.
type Product struct {
	ID    string
	Name  string
	Price int64
	Stock int64
}

// Event is one event of a scenario.
type Event struct {
	ID      string
	Type    string
	OrderID string
	Payload []byte
}

// Scenario is a shop and the events of its orders, in their natural order.
type Scenario struct {
	Products []Product
	Events   []Event
}

// Generate builds a scenario of n orders over the given number of products.
// Every product has stock enough for every order, so the final state does not
// depend on which order wins a unit.
func Generate(rng *rand.Rand, n, products int) Scenario {
	var s Scenario
	for i := range products {
		s.Products = append(s.Products, Product{
			ID: fmt.Sprintf("sku-%03d", i), Name: fmt.Sprintf("Product %d", i),
			Price: int64(500 + 100*rng.IntN(50)), Stock: int64(3 * n),
		})
	}
	base := time.Now().Add(-time.Hour)
	seq := 0
	for i := range n {
		p := s.Products[rng.IntN(len(s.Products))]
		qty := int64(1 + rng.IntN(3))
		order := fmt.Sprintf("ord_%04d_%04x", i, rng.IntN(1<<16))
		ex := stripe.Example{
			OrderID: order, ProductID: p.ID, Quantity: qty, Amount: p.Price * qty,
			Email: fmt.Sprintf("buyer%d@example.com", i),
		}
		add := func(typ string, edit func(*stripe.Example)) {
			e := ex
			e.Type = typ
			seq++
			e.EventID = fmt.Sprintf("evt_%s_%03d", order, seq)
			e.Created = base.Add(time.Duration(seq) * time.Second)
			if edit != nil {
				edit(&e)
			}
			payload, err := stripe.Build(e)
			if err != nil {
				panic(err) // every type used here has an example
			}
			s.Events = append(s.Events, Event{ID: e.EventID, Type: typ, OrderID: order, Payload: payload})
		}
		paidByCard := func() {
			add("checkout.session.completed", nil)
			add("payment_intent.succeeded", nil)
		}
		refunds := func() {
			switch rng.IntN(4) {
			case 0:
				add("charge.refunded", func(e *stripe.Example) { e.Refunded = e.Amount / 3 })
			case 1:
				add("charge.refunded", func(e *stripe.Example) { e.Refunded = e.Amount / 3 })
				add("charge.refunded", func(e *stripe.Example) { e.Refunded = e.Amount })
			case 2:
				add("charge.refunded", func(e *stripe.Example) { e.Refunded = e.Amount })
			}
		}
		disputes := func() {
			switch rng.IntN(5) {
			case 0:
				add("charge.dispute.created", nil)
			case 1:
				add("charge.dispute.created", nil)
				add("charge.dispute.updated", nil)
				add("charge.dispute.closed", func(e *stripe.Example) { e.DisputeStatus = "won" })
			case 2:
				add("charge.dispute.created", nil)
				add("charge.dispute.closed", func(e *stripe.Example) { e.DisputeStatus = "lost" })
			}
		}
		switch rng.IntN(7) {
		case 0, 1: // paid by card, maybe refunded
			paidByCard()
			refunds()
		case 2: // paid, maybe disputed
			paidByCard()
			disputes()
		case 3: // a declined card, then paid
			add("payment_intent.payment_failed", nil)
			paidByCard()
		case 4: // a delayed method that succeeds
			add("checkout.session.completed", func(e *stripe.Example) { e.Unpaid = true })
			add("checkout.session.async_payment_succeeded", nil)
			add("payment_intent.succeeded", nil)
			refunds()
		case 5: // a delayed method that fails
			add("checkout.session.completed", func(e *stripe.Example) { e.Unpaid = true })
			add("payment_intent.payment_failed", nil)
			add("checkout.session.async_payment_failed", nil)
		case 6: // abandoned
			add("checkout.session.expired", nil)
		}
	}
	return s
}

// Shuffled returns the events in a random order, each delivered one or more
// times (about one in dup is delivered again).
func (s Scenario) Shuffled(rng *rand.Rand, dup int) []Event {
	var out []Event
	for _, e := range s.Events {
		out = append(out, e)
		for dup > 0 && rng.IntN(dup) == 0 {
			out = append(out, e)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

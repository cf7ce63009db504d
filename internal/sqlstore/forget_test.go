package sqlstore_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/inbox"
	"github.com/caisse/caisse/internal/dbtest"
	"github.com/caisse/caisse/internal/sqlstore"
	"github.com/caisse/caisse/stripe"
)

// The retention erases old orders a chunk at a time, each chunk one
// transaction, until none is left, and never a younger order; forgetting
// an address reaches a fact linked to no order (a charge whose payment
// intent caisse never saw) and its event, matched in any case.
func TestForgetOrdersBeforeAndUnlinkedFacts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kind dbtest.Kind) {
		c := &clock{now: time.Now().UTC()}
		b := open(t, kind, kind.NewURL(t), func(s *sqlstore.Store, _ *inbox.Inbox) { s.Now, s.Rules.Now = c.Now, c.Now })
		ctx := context.Background()
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		sell := func(order, email string) {
			id := b.receive(t, stripe.Example{Type: "checkout.session.completed", OrderID: order, Email: email})
			waitAll(t, []*bundle{b}, []string{id})
		}
		t0 := c.Now()
		sell("o1", "one@example.com")
		sell("o2", "two@example.com")
		c.Add(48 * time.Hour)
		sell("o3", "three@example.com")
		stranger := b.receive(t, stripe.Example{Type: "charge.succeeded", OrderID: "ox", PaymentIntent: "pi_never_seen", Email: "stranger@example.com"})
		waitAll(t, []*bundle{b}, []string{stranger})

		var erased []string
		for _, want := range []int{1, 1, 0} {
			f, err := b.ForgetOrdersBefore(ctx, t0.Add(time.Hour), 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Orders) != want {
				t.Fatalf("a chunk erased %v, want %d orders", f.Orders, want)
			}
			erased = append(erased, f.Orders...)
		}
		slices.Sort(erased)
		if !slices.Equal(erased, []string{"o1", "o2"}) {
			t.Errorf("erased %v", erased)
		}
		for order, email := range map[string]string{"o1": "", "o2": "", "o3": "three@example.com"} {
			o, err := b.FindOrder(ctx, order)
			if err != nil || o.Customer.Email != email || o.AmountTotal != 2500 || o.Status != caisse.StatusPaid {
				t.Errorf("order %s: %+v %v", order, o, err)
			}
		}

		f, err := b.ForgetCustomer(ctx, "Stranger@Example.COM")
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Orders) != 0 || f.Facts != 1 || f.Events != 1 {
			t.Errorf("forgetting the stranger: %+v", f)
		}
		fact, err := b.FindFact(ctx, "ch_ox")
		if err != nil || fact.CustomerEmail != "" || fact.CustomerName != "" || fact.Amount != 2500 {
			t.Errorf("the stranger's fact: %+v %v", fact, err)
		}
		e, err := b.FindEvent(ctx, stranger)
		if err != nil || strings.Contains(strings.ToLower(string(e.Payload)), "stranger@") || !strings.Contains(string(e.Payload), stranger) {
			t.Errorf("the stranger's event: %s %v", e.Payload, err)
		}
		if _, err := b.ForgetCustomer(ctx, "not an address"); caisse.ErrorCode(err) != caisse.EINVALID {
			t.Errorf("forgetting a phrase: %v", err)
		}
	})
}

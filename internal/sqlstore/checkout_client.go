package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/caisse/caisse"
)

// ClientCheckout is an open checkout of one client, as the count of what
// the client holds sees it.
type ClientCheckout struct {
	OrderID  string
	Status   caisse.OrderStatus
	Session  string
	Products []string // the products it holds reserved units of
	Reserved int64    // its reserved units, all products together
}

// ClientCheckouts returns the open checkouts of a client (its digest) that
// hold reserved units.
func (s *Store) ClientCheckouts(ctx context.Context, digest string) ([]ClientCheckout, error) {
	return clientCheckouts(ctx, s.Driver.Reader(), digest)
}

// clientCheckouts returns the open checkouts of a client that hold reserved
// units. An index keeps it to that client's orders.
func clientCheckouts(ctx context.Context, q Querier, digest string) ([]ClientCheckout, error) {
	// "<> ''" lets both databases prove the partial index covers the rows.
	rows, err := q.Query(ctx, `SELECT id, status, checkout_session, holds FROM orders
		WHERE checkout_client = ? AND checkout_client <> '' AND checkout_open = ? ORDER BY id`, digest, true)
	if err != nil {
		return nil, fmt.Errorf("error reading a client's open checkouts: %w", err)
	}
	defer rows.Close()
	var out []ClientCheckout
	for rows.Next() {
		var c ClientCheckout
		var status, holds string
		if err := rows.Scan(&c.OrderID, &status, &c.Session, &holds); err != nil {
			return nil, fmt.Errorf("error reading a client's open checkouts: %w", err)
		}
		var hs []caisse.Hold
		if err := json.Unmarshal([]byte(holds), &hs); err != nil {
			return nil, fmt.Errorf("error reading the holds of order %s: %w", c.OrderID, err)
		}
		c.Status = caisse.OrderStatus(status)
		for _, h := range hs {
			if h.Reserved > 0 {
				c.Reserved += h.Reserved
				c.Products = append(c.Products, h.ProductID)
			}
		}
		if c.Reserved > 0 {
			out = append(out, c)
		}
	}
	return out, rows.Err()
}

// holdForClient runs in the reservation's transaction, before the new
// order's units are reserved: it releases the checkouts the new one
// replaces and checks what the client would hold with it. The client's lock
// makes two checkouts of one client, on any instance, count one after the
// other.
func (s *Store) holdForClient(ctx context.Context, v *View, tx Tx, digest string, rec *caisse.OrderRecord, replaced []string, limit int64) error {
	if err := v.Lock(ctx, []string{"checkout_client:" + digest}); err != nil {
		return err
	}
	for _, id := range replaced {
		if err := s.closeCheckout(ctx, v, id, "caisse.checkout_replaced",
			"the same buyer opened checkout "+rec.ID+" for the same products: this one's session was expired and its units released"); err != nil {
			return err
		}
	}
	open, err := clientCheckouts(ctx, tx, digest)
	if err != nil {
		return err
	}
	var held, units int64
	for _, c := range open {
		if !slices.Contains(replaced, c.OrderID) {
			held += c.Reserved
		}
	}
	for _, it := range rec.Items {
		units += it.Quantity
	}
	if limit > 0 && held+units > limit {
		return caisse.TooManyHeld(held, limit)
	}
	return nil
}

// closeCheckout releases an open checkout's reserved units in the view
// (the sweep's rule) and records why on the order's timeline.
func (s *Store) closeCheckout(ctx context.Context, v *View, id, why, note string) error {
	before, err := v.LockOrder(ctx, id)
	if err != nil || before == nil {
		return err
	}
	ev := &caisse.Event{ID: why + ":" + id, Type: why}
	changed, err := s.Rules.CloseCheckout(ctx, v, ev, id)
	if err != nil || !changed {
		return err
	}
	after, err := v.LockOrder(ctx, id)
	if err != nil {
		return err
	}
	return v.AddTimeline(ctx, id, caisse.TimelineEntry{At: s.now().UTC(), EventID: ev.ID, Type: why,
		From: before.Status, To: after.Status, Stock: caisse.StockMoves(before.Holds, after.Holds), Note: note})
}

// forgetClients clears the client of closed checkouts: it is needed only
// while a checkout holds units.
func forgetClients(ctx context.Context, tx Tx, ids []string) error {
	for _, id := range ids {
		if _, err := tx.Exec(ctx, `UPDATE orders SET checkout_client = '' WHERE id = ? AND checkout_open = ?`, id, false); err != nil {
			return fmt.Errorf("error clearing the client of order %s: %w", id, err)
		}
	}
	return nil
}

// CloseReplacedCheckouts releases, in one transaction, checkouts whose
// sessions were expired for a new checkout that then failed: nobody can pay
// them any more.
func (s *Store) CloseReplacedCheckouts(ctx context.Context, ids []string) error {
	return s.RetryTx(ctx, func(tx Tx) error {
		v := s.NewView(tx)
		for _, id := range ids {
			if err := s.closeCheckout(ctx, v, id, "caisse.checkout_replaced",
				"the same buyer opened another checkout for the same products: this one's session was expired and its units released"); err != nil {
				return err
			}
		}
		if err := v.Flush(ctx); err != nil {
			return err
		}
		return forgetClients(ctx, tx, ids)
	})
}

// CloseCancelledCheckout releases the units of the checkout of order
// orderID, whose session Stripe expired for the buyer who left it, in one
// transaction, and records why on its timeline.
func (s *Store) CloseCancelledCheckout(ctx context.Context, orderID string) error {
	err := s.RetryTx(ctx, func(tx Tx) error {
		v := s.NewView(tx)
		if err := s.closeCheckout(ctx, v, orderID, "caisse.checkout_cancelled",
			"the buyer left the checkout: its session was expired and its units released"); err != nil {
			return err
		}
		if err := v.Flush(ctx); err != nil {
			return err
		}
		return forgetClients(ctx, tx, []string{orderID})
	})
	if err != nil {
		return wrap(err, "error releasing the units of the cancelled checkout of order %s", orderID)
	}
	return nil
}

package sqlstore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/caisse/caisse"
)

// clientCheckout is an open checkout of one client, as the count of what
// the client holds sees it.
type clientCheckout struct {
	orderID  string
	status   caisse.OrderStatus
	session  string
	products []string // the products it holds reserved units of
	reserved int64    // its reserved units, all products together
}

// clientDigest is what is stored of a checkout's client: a keyed digest,
// so the orders table holds no address or buyer id, and a copy of the
// database alone cannot tell whose it is (an address is a few billion
// guesses away from a plain hash). "" for no client.
func (s *Store) clientDigest(client string) string {
	if client == "" {
		return ""
	}
	m := hmac.New(sha256.New, s.ClientKey)
	m.Write([]byte(client))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// clientCheckouts returns the open checkouts of a client that hold reserved
// units. An index keeps it to that client's orders.
func clientCheckouts(ctx context.Context, q Querier, digest string) ([]clientCheckout, error) {
	// "<> ''" lets both databases prove the partial index covers the rows.
	rows, err := q.Query(ctx, `SELECT id, status, checkout_session, holds FROM orders
		WHERE checkout_client = ? AND checkout_client <> '' AND checkout_open = ? ORDER BY id`, digest, true)
	if err != nil {
		return nil, fmt.Errorf("error reading a client's open checkouts: %w", err)
	}
	defer rows.Close()
	var out []clientCheckout
	for rows.Next() {
		var c clientCheckout
		var status, holds string
		if err := rows.Scan(&c.orderID, &status, &c.session, &holds); err != nil {
			return nil, fmt.Errorf("error reading a client's open checkouts: %w", err)
		}
		var hs []caisse.Hold
		if err := json.Unmarshal([]byte(holds), &hs); err != nil {
			return nil, fmt.Errorf("error reading the holds of order %s: %w", c.orderID, err)
		}
		c.status = caisse.OrderStatus(status)
		for _, h := range hs {
			if h.Reserved > 0 {
				c.reserved += h.Reserved
				c.products = append(c.products, h.ProductID)
			}
		}
		if c.reserved > 0 {
			out = append(out, c)
		}
	}
	return out, rows.Err()
}

// replaceable reports whether a client's open checkout is replaced by a new
// one for these items: it holds one of the same products and its session
// can still be expired (not completed, the payment under way).
func (c clientCheckout) replaceable(items []caisse.Line) bool {
	if c.status != caisse.StatusPending || c.session == "" {
		return false
	}
	return slices.ContainsFunc(items, func(l caisse.Line) bool { return slices.Contains(c.products, l.ProductID) })
}

// tooManyHeld is the refusal of a checkout that would take a client past
// what it may hold at once.
func tooManyHeld(held, limit int64) error {
	return &caisse.Error{Code: caisse.ECONFLICT, Reason: caisse.ReasonTooManyHeld,
		Message: "your open checkouts already hold " + strconv.FormatInt(held, 10) + " units, and at most " +
			strconv.FormatInt(limit, 10) + " can be held at once: pay or cancel one of them first, or wait until it expires"}
}

// replaceClientCheckouts finds the client's open checkouts the new one
// replaces (those holding any of its products) and expires their sessions
// through Stripe, before anything is reserved; it returns the orders whose
// sessions Stripe expired, which the reservation then releases in its own
// transaction, so their units pass to the new checkout with no gap another
// buyer could take them in. A checkout Stripe will not expire (being paid
// right now) is kept and counted. A request that would hold too much even
// after the replacement is refused here, before Stripe is asked anything.
func (s *Store) replaceClientCheckouts(ctx context.Context, digest string, items []caisse.Line) ([]string, error) {
	limit := s.CheckoutLimits.MaxUnits
	open, err := clientCheckouts(ctx, s.Driver.Reader(), digest)
	if err != nil {
		return nil, err
	}
	var units, kept int64
	for _, it := range items {
		units += it.Quantity
	}
	var replace []clientCheckout
	for _, c := range open {
		if c.replaceable(items) {
			replace = append(replace, c)
		} else {
			kept += c.reserved
		}
	}
	if limit > 0 && kept+units > limit {
		return nil, tooManyHeld(kept, limit)
	}
	var expired []string
	for _, c := range replace {
		if err := s.Stripe.ExpireCheckoutSession(ctx, c.session); err != nil {
			s.Logger.Warn("Stripe did not expire the checkout a new one of the same client replaces: it is kept, and counts against the client",
				"order_id", c.orderID, "checkout_session", c.session, "error", err.Error())
			continue
		}
		expired = append(expired, c.orderID)
	}
	return expired, nil
}

// holdForClient runs in the reservation's transaction, before the new
// order's units are reserved: it releases the checkouts the new one
// replaces and checks what the client would hold with it. The client's lock
// makes two checkouts of one client, on any instance, count one after the
// other.
func (s *Store) holdForClient(ctx context.Context, v *View, tx Tx, digest string, rec *caisse.OrderRecord, replaced []string) error {
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
		if !slices.Contains(replaced, c.orderID) {
			held += c.reserved
		}
	}
	for _, it := range rec.Items {
		units += it.Quantity
	}
	if limit := s.CheckoutLimits.MaxUnits; limit > 0 && held+units > limit {
		return tooManyHeld(held, limit)
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

// closeReplaced releases checkouts whose sessions were expired for a new
// checkout that then failed: nobody can pay them any more.
func (s *Store) closeReplaced(ctx context.Context, ids []string) {
	err := s.RetryTx(ctx, func(tx Tx) error {
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
	if err != nil {
		// Stripe's checkout.session.expired, or the sweep, releases them.
		s.Logger.Error("could not release the checkouts a failed checkout replaced; Stripe's expiry events release them",
			"orders", ids, "error", err.Error())
	}
}

// CancelCheckout closes the open checkout of an order caisse's checkout
// made and that nobody paid: Stripe expires its session first, so nobody
// can pay it once its units are released; then the units go back at once.
// A checkout closed already (cancelled, expired) answers the same, so a
// cancel page loaded twice is fine. The order's id is the capability: it is
// 96 random bits, known to the page that opened the checkout.
func (s *Store) CancelCheckout(ctx context.Context, orderID string) (*caisse.CheckoutCancel, error) {
	rec, err := findOrderRecord(ctx, s.Driver.Reader(), orderID)
	if err != nil {
		return nil, err
	}
	if rec == nil || len(rec.CheckoutItems) == 0 {
		return nil, &caisse.Error{Code: caisse.ENOTFOUND,
			Message: "no checkout of caisse has the order id " + strconv.Quote(caisse.Clip(orderID, 100)) + ": use the order_id /api/checkout answered"}
	}
	if err := notPaid(rec); err != nil {
		return nil, err
	}
	done := &caisse.CheckoutCancel{OrderID: rec.ID, Cancelled: true}
	if !rec.CheckoutOpen || rec.Status != caisse.StatusPending {
		return done, nil
	}
	if s.Stripe == nil {
		return nil, &caisse.Error{Code: caisse.EUNAVAILABLE, Reason: caisse.ReasonCheckoutOff,
			Message: "checkout is not set up on this caisse: its owner must set STRIPE_SECRET_KEY"}
	}
	if rec.CheckoutSession == "" {
		// Its session is being created: released now, it could be paid.
		return nil, &caisse.Error{Code: caisse.ECONFLICT, Reason: "checkout_opening",
			Message: "this checkout is still being opened: try again in a moment"}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stripeTimeout)
	defer cancel()
	if err := s.Stripe.ExpireCheckoutSession(sctx, rec.CheckoutSession); err != nil {
		s.Logger.Warn("Stripe did not expire a cancelled checkout's session: its units stay held until Stripe's events say what became of it",
			"order_id", rec.ID, "checkout_session", rec.CheckoutSession, "error", err.Error())
		var apiErr *caisse.StripeError
		if errors.As(err, &apiErr) {
			return nil, &caisse.Error{Code: caisse.ECONFLICT, Reason: caisse.ReasonAlreadyPaid,
				Message: "Stripe says this checkout is no longer open: it was paid or is being paid, or it expired; nothing was cancelled"}
		}
		return nil, &caisse.Error{Code: caisse.EUPSTREAM, Reason: "stripe_unreachable",
			Message: "Stripe could not be reached to close the checkout; nothing was cancelled, try again"}
	}
	err = s.RetryTx(sctx, func(tx Tx) error {
		v := s.NewView(tx)
		if err := s.closeCheckout(sctx, v, rec.ID, "caisse.checkout_cancelled",
			"the buyer left the checkout: its session was expired and its units released"); err != nil {
			return err
		}
		if err := v.Flush(sctx); err != nil {
			return err
		}
		return forgetClients(sctx, tx, []string{rec.ID})
	})
	if err != nil {
		return nil, wrap(err, "error releasing the units of the cancelled checkout of order %s", rec.ID)
	}
	s.Logger.Info("the buyer cancelled a checkout: its units are released", "order_id", rec.ID, "outcome", "released")
	return done, nil
}

// notPaid refuses to cancel an order that was paid, or whose payment is on
// its way (a delayed method): its units are the buyer's.
func notPaid(rec *caisse.OrderRecord) error {
	switch rec.Status {
	case caisse.StatusPending, caisse.StatusExpired, caisse.StatusPaymentFailed:
		return nil
	case caisse.StatusAwaitingPayment:
		return &caisse.Error{Code: caisse.ECONFLICT, Reason: caisse.ReasonAlreadyPaid,
			Message: "the payment of this order is on its way: it cannot be cancelled"}
	}
	return &caisse.Error{Code: caisse.ECONFLICT, Reason: caisse.ReasonAlreadyPaid,
		Message: "this order is paid: it cannot be cancelled; ask the shop for a refund"}
}

package sqlstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/caisse/caisse"
)

var _ caisse.CheckoutService = (*Store)(nil)

// MinCheckoutTTL is the shortest a checkout stays open: Stripe's minimum
// for a Checkout Session's expires_at.
const MinCheckoutTTL = 30 * time.Minute

// stripeClockMargin is added to a session's expiry sent to Stripe: Stripe
// refuses an expires_at under 30 minutes after it creates the session, and
// its clock and the time the request takes would make an exact 30 minutes
// fall short.
const stripeClockMargin = time.Minute

// stripeTimeout bounds a call to Stripe's API made for a request, retries
// included. It runs to the end even if the client hangs up, so that the
// reservation is either attached to a session or released.
const stripeTimeout = time.Minute

// Checkout reserves the units of the request's items, then creates the
// Stripe Checkout Session the customer pays on. The reservation commits
// before Stripe is called (no transaction waits on the network); if Stripe
// fails, the units are released and the order is removed.
func (s *Store) Checkout(ctx context.Context, req caisse.CheckoutRequest) (*caisse.Checkout, error) {
	if s.Stripe == nil {
		return nil, &caisse.Error{Code: caisse.EUNAVAILABLE, Reason: caisse.ReasonCheckoutOff,
			Message: "checkout is not set up on this caisse: its owner must set STRIPE_SECRET_KEY"}
	}
	if err := req.Validate(s.CheckoutLimits); err != nil {
		return nil, err
	}
	now := s.now()
	ttl := max(s.CheckoutTTL, MinCheckoutTTL)
	rec := &caisse.OrderRecord{
		Order: caisse.Order{ID: "ord_" + randomID(), Status: caisse.StatusPending,
			CustomerEmail: req.CustomerEmail, CreatedAt: now, UpdatedAt: now},
		CheckoutOpen:      true,
		CheckoutExpiresAt: now.Add(ttl + stripeClockMargin).Truncate(time.Second),
	}
	rec.Livemode = s.Stripe.Livemode()
	var err error
	for _, it := range req.Merged() {
		rec.Items = append(rec.Items, caisse.Line{ProductID: it.ProductID, Quantity: it.Quantity})
	}
	// The client's earlier checkouts of the same products are replaced,
	// and what it holds in all is bounded.
	digest := s.clientDigest(req.Client)
	var replaced []string
	if digest != "" {
		if replaced, err = s.replaceClientCheckouts(ctx, digest, rec.Items); err != nil {
			return nil, err
		}
	}
	lines, err := s.reserve(ctx, rec, digest, replaced)
	if err != nil {
		if len(replaced) > 0 {
			s.closeReplaced(context.WithoutCancel(ctx), replaced)
		}
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stripeTimeout)
	defer cancel()
	session, err := s.Stripe.CreateCheckoutSession(ctx, caisse.CheckoutSessionParams{
		OrderID: rec.ID, CustomerEmail: req.CustomerEmail, SuccessURL: req.SuccessURL, CancelURL: req.CancelURL,
		ExpiresAt: rec.CheckoutExpiresAt, Items: caisse.FormatItems(caisse.ItemsOf(rec.Items)), Lines: lines,
	})
	if err != nil {
		s.Logger.Warn("Stripe did not create a checkout session: its units are released",
			"order_id", rec.ID, "error", err.Error())
		if rerr := s.releaseCheckout(ctx, rec.ID); rerr != nil {
			// The sweep releases the units when the checkout's time is up.
			s.Logger.Error("could not release a failed checkout's units; they are released when it expires",
				"order_id", rec.ID, "error", rerr.Error())
		}
		var apiErr *caisse.StripeError
		if errors.As(err, &apiErr) {
			// Stripe's own words stay in the log above: they can name the
			// account's configuration or part of its key, and this answer
			// goes to whoever asked for the checkout.
			return nil, &caisse.Error{Code: caisse.EUPSTREAM, Reason: cmp.Or(apiErr.Code, apiErr.Type, "stripe_error"),
				Message: "Stripe refused to create the checkout session; nothing was reserved"}
		}
		return nil, &caisse.Error{Code: caisse.EUPSTREAM, Reason: "stripe_unreachable",
			Message: "Stripe could not be reached to create the checkout session; nothing was reserved, try again"}
	}
	// The expiry caisse asked for stays the one it keeps: Stripe's answer
	// carries the same, and the sweep must not depend on its clock.
	err = s.inTx(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `UPDATE orders SET checkout_session = CASE WHEN checkout_session = '' THEN ? ELSE checkout_session END,
			checkout_url = ? WHERE id = ?`, session.ID, session.URL, rec.ID)
		return err
	})
	if err != nil {
		// The session exists and the units are held: the customer can pay.
		// Its events link the order to the session whatever this says.
		s.Logger.Error("could not record the checkout session on its order", "order_id", rec.ID,
			"checkout_session", session.ID, "error", err.Error())
	}
	return &caisse.Checkout{OrderID: rec.ID, CheckoutSessionID: session.ID, URL: session.URL, ExpiresAt: rec.CheckoutExpiresAt}, nil
}

// reserve checks the products and reserves their units for a new order, in
// one transaction, and returns the lines the customer will pay. With a
// client (its digest), the checkouts it replaces are released in the same
// transaction, the client's open checkouts are counted, and the order
// keeps the digest.
func (s *Store) reserve(ctx context.Context, rec *caisse.OrderRecord, client string, replaced []string) ([]caisse.CheckoutLine, error) {
	var lines []caisse.CheckoutLine
	err := s.RetryTx(ctx, func(tx Tx) error {
		lines = lines[:0]
		var unknown []string
		rec.AmountTotal, rec.Currency = 0, ""
		for i, it := range rec.Items {
			p, err := scanProduct(tx.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE id = ?`, it.ProductID))
			if errors.Is(err, ErrNoRows) {
				unknown = append(unknown, it.ProductID)
				continue
			} else if err != nil {
				return fmt.Errorf("error reading product %s: %w", it.ProductID, err)
			}
			if p.Price <= 0 || p.Price > caisse.MaxAmount || p.Currency == "" {
				return &caisse.Error{Code: caisse.EINVALID, Reason: caisse.ReasonNoPrice, Products: []string{p.ID},
					Message: fmt.Sprintf("product %s has no price to charge: set its price and currency", p.ID)}
			}
			if rec.Currency != "" && p.Currency != rec.Currency {
				return &caisse.Error{Code: caisse.EINVALID, Reason: caisse.ReasonMixedCurrencies,
					Message: "the products are priced in different currencies: one checkout takes one currency"}
			}
			rec.Currency = p.Currency
			// Prices are at most caisse.MaxAmount and quantities bounded by
			// the checkout's limits, so this cannot overflow; the total is
			// checked against what Stripe charges below.
			rec.AmountTotal += p.Price * it.Quantity
			lines = append(lines, caisse.CheckoutLine{Name: cmp.Or(p.Name, p.ID), UnitAmount: p.Price, Currency: p.Currency, Quantity: it.Quantity})
			// The line as charged: its name and price stay the order's.
			rec.Items[i].Name, rec.Items[i].UnitAmount = p.Name, p.Price
		}
		if rec.AmountTotal > caisse.MaxAmount {
			return &caisse.Error{Code: caisse.EINVALID, Reason: caisse.ReasonInvalidItems,
				Message: "the checkout's total is more than Stripe charges at once: buy fewer units"}
		}
		if len(unknown) > 0 {
			return &caisse.Error{Code: caisse.EINVALID, Reason: caisse.ReasonUnknownProduct, Products: unknown,
				Message: fmt.Sprintf("no product %v in this shop", unknown)}
		}
		rec.AmountDue = rec.AmountTotal
		rec.CheckoutItems = rec.Items
		rec.CheckoutTerms = caisse.Terms{AmountDue: rec.AmountTotal, Currency: rec.Currency, Livemode: rec.Livemode}
		v := s.NewView(tx)
		if client != "" {
			if err := s.holdForClient(ctx, v, tx, client, rec, replaced); err != nil {
				return err
			}
		}
		unavailable, err := s.Rules.OpenCheckout(ctx, v, rec)
		if err != nil {
			return err
		}
		if len(unavailable) > 0 {
			return &caisse.Error{Code: caisse.ECONFLICT, Reason: caisse.ReasonNotAvailable, Products: unavailable,
				Message: fmt.Sprintf("not enough units of %v left: they are sold or held by another checkout", unavailable)}
		}
		if err := v.Flush(ctx); err != nil || client == "" {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE orders SET checkout_client = ? WHERE id = ?`, client, rec.ID); err != nil {
			return err
		}
		return forgetClients(ctx, tx, replaced)
	})
	if err != nil {
		return nil, wrap(err, "error reserving the units of a checkout")
	}
	return lines, nil
}

// releaseCheckout undoes a checkout Stripe refused: its units go back and
// the order, which never reached Stripe, is removed with its timeline.
func (s *Store) releaseCheckout(ctx context.Context, orderID string) error {
	return s.RetryTx(ctx, func(tx Tx) error {
		ev := &caisse.Event{ID: "checkout_failed:" + orderID, Type: "caisse.checkout_failed"}
		v := s.NewView(tx)
		if _, err := s.Rules.CloseCheckout(ctx, v, ev, orderID); err != nil {
			return err
		}
		if err := v.Flush(ctx); err != nil {
			return err
		}
		// An event about it (a session created after all, its answer lost)
		// keeps the order: it is Stripe's now.
		var facts int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM facts WHERE order_id = ?`, orderID).Scan(&facts); err != nil || facts > 0 {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM order_timeline WHERE order_id = ?`, orderID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM orders WHERE id = ?`, orderID)
		return err
	})
}

// SweepCheckouts releases the units held by caisse checkouts whose session
// expired more than grace ago without an event saying so (a lost or late
// checkout.session.expired), so stock never stays held by a lost event.
// It returns how many checkouts it closed.
func (s *Store) SweepCheckouts(ctx context.Context, grace time.Duration) (int, error) {
	cutoff := micros(s.now().Add(-grace))
	rows, err := s.Driver.Reader().Query(ctx, `SELECT id FROM orders
		WHERE checkout_open = ? AND checkout_expires_at > 0 AND checkout_expires_at < ? ORDER BY checkout_expires_at LIMIT 500`, true, cutoff)
	if err != nil {
		return 0, fmt.Errorf("error finding expired checkouts: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("error finding expired checkouts: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("error finding expired checkouts: %w", err)
	}
	closed := 0
	for _, id := range ids {
		var changed bool
		err := s.RetryTx(ctx, func(tx Tx) error {
			ev := &caisse.Event{ID: "sweep:" + id, Type: "caisse.checkout_expired"}
			v := s.NewView(tx)
			var err error
			if changed, err = s.Rules.CloseCheckout(ctx, v, ev, id); err != nil {
				return err
			}
			if err := v.Flush(ctx); err != nil {
				return err
			}
			return forgetClients(ctx, tx, []string{id})
		})
		if err != nil {
			return closed, fmt.Errorf("error closing the expired checkout of order %s: %w", id, err)
		}
		if changed {
			closed++
			s.Logger.Info("checkout expired without an event: its units are released", "order_id", id, "outcome", "released")
		}
	}
	return closed, nil
}

// MaxTxRetries bounds the immediate retries of a transaction that lost a
// deadlock or a serialization race; those are not the work's fault.
const MaxTxRetries = 8

// RetryTx runs fn in a transaction, again when it loses a deadlock or a
// serialization race.
func (s *Store) RetryTx(ctx context.Context, fn func(tx Tx) error) error {
	for try := 0; ; try++ {
		err := s.inTx(ctx, fn)
		if err == nil || try >= MaxTxRetries || !s.Driver.Retryable(err) {
			return err
		}
	}
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

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

// RecordCheckoutSession records on its order the Stripe Checkout Session
// a checkout opened, in one transaction: the first session recorded stays
// (its events may have linked it already), its URL is the latest.
func (s *Store) RecordCheckoutSession(ctx context.Context, orderID, session, url string) error {
	return s.inTx(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `UPDATE orders SET checkout_session = CASE WHEN checkout_session = '' THEN ? ELSE checkout_session END,
			checkout_url = ? WHERE id = ?`, session, url, orderID)
		return err
	})
}

// ReserveCheckout checks the products and reserves their units for a new
// pending order, rec, which it creates, in one transaction, and returns the
// lines the customer will pay. With a client (its digest), the checkouts
// it replaces are released in the same transaction, the client's open
// checkouts are counted against maxUnits (0: no bound), and the order
// keeps the digest.
func (s *Store) ReserveCheckout(ctx context.Context, rec *caisse.OrderRecord, client string, replaced []string, maxUnits int64) ([]caisse.CheckoutLine, error) {
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
			if err := s.holdForClient(ctx, v, tx, client, rec, replaced, maxUnits); err != nil {
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

// ReleaseFailedCheckout undoes a checkout Stripe refused, in one
// transaction: its units go back and the order, which never reached
// Stripe, is removed with its timeline.
func (s *Store) ReleaseFailedCheckout(ctx context.Context, orderID string) error {
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

package sqlstore

import (
	"context"
	"slices"

	"github.com/caisse/caisse"
)

// RefundOwnerArgs is the job that asks Stripe for a refund the owner asked
// caisse for. It is inserted with the outbox message that records the
// request, in the transaction that recorded it on the order.
type RefundOwnerArgs struct {
	OrderID string `json:"order_id"`
	// Refund is the refund's id on the order, its idempotency key.
	Refund string `json:"refund"`
	// Key is the request's outbox row, marked delivered once Stripe made
	// the refund.
	Key string `json:"key"`
}

// Kind names the job in River's tables.
func (RefundOwnerArgs) Kind() string { return caisse.KindRefundOwner }

// RequestRefund records, in one transaction with the order locked, the
// refund decide makes of order orderID: added to the order's refunds
// requested, noted on its timeline, and its request to Stripe queued (the
// outbox row and its job). A refund decide finds made before (Repeated)
// is returned as it is, and nothing is written.
func (s *Store) RequestRefund(ctx context.Context, orderID string,
	decide func(o *caisse.OrderRecord) (*caisse.OwnerRefund, error)) (*caisse.OwnerRefund, error) {
	var x *caisse.OwnerRefund
	err := s.RetryTx(ctx, func(tx Tx) error {
		if err := tx.Lock(ctx, "order:"+orderID); err != nil {
			return err
		}
		o, err := findOrderRecord(ctx, tx, orderID)
		if err != nil {
			return err
		} else if o == nil {
			return caisse.Errorf(caisse.ENOTFOUND, "no order %s", orderID)
		}
		if x, err = decide(o); err != nil || x.Repeated {
			return err
		}
		stored := *x
		stored.OrderID = ""
		o.RefundsRequested = append(o.RefundsRequested, stored)
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE orders SET refunds_requested = ?, updated_at = ? WHERE id = ?`,
			jsonList(o.RefundsRequested), micros(now), orderID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO order_timeline (order_id, at, event_id, type, from_status, to_status, stock, note)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, orderID, micros(now), "", "caisse.refund_requested", string(o.Status), string(o.Status), "",
			caisse.RefundNote(*x, o.Currency, "asked of Stripe")); err != nil {
			return err
		}
		return s.writeOutbox(ctx, tx, now, []caisse.OutboxMessage{x.Message(orderID)})
	})
	if err != nil {
		return nil, wrap(err, "error requesting a refund of order %s", orderID)
	}
	return x, nil
}

// RecordOwnerRefund records refund as Stripe's refund for the owner's
// refund id of order orderID and marks the outbox row key (the request)
// delivered, in one transaction.
func (s *Store) RecordOwnerRefund(ctx context.Context, orderID, id, refund, key string) error {
	now := s.now()
	return s.RetryTx(ctx, func(tx Tx) error {
		if err := tx.Lock(ctx, "order:"+orderID); err != nil {
			return err
		}
		o, err := findOrderRecord(ctx, tx, orderID)
		if err != nil || o == nil {
			return err
		}
		if i := slices.IndexFunc(o.RefundsRequested, func(x caisse.OwnerRefund) bool { return x.ID == id }); i >= 0 && o.RefundsRequested[i].Refund != refund {
			o.RefundsRequested[i].Refund = refund
			if _, err := tx.Exec(ctx, `UPDATE orders SET refunds_requested = ?, updated_at = ? WHERE id = ?`,
				jsonList(o.RefundsRequested), micros(now), orderID); err != nil {
				return err
			}
		}
		return s.delivered(ctx, tx, now, key, nil)
	})
}

// FailOwnerRefund marks the owner's refund id of order orderID failed with
// reason (unless Stripe's events confirmed it already), its outbox row key
// failed, and writes alert, in one transaction.
func (s *Store) FailOwnerRefund(ctx context.Context, orderID, id, key, reason string, alert caisse.OutboxMessage) error {
	now := s.now()
	return s.RetryTx(ctx, func(tx Tx) error {
		if err := tx.Lock(ctx, "order:"+orderID); err != nil {
			return err
		}
		o, err := findOrderRecord(ctx, tx, orderID)
		if err != nil {
			return err
		}
		if o != nil && caisse.FailRefund(o.RefundsRequested, id, reason) {
			if _, err := tx.Exec(ctx, `UPDATE orders SET refunds_requested = ?, updated_at = ? WHERE id = ?`,
				jsonList(o.RefundsRequested), micros(now), orderID); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO order_timeline (order_id, at, event_id, type, from_status, to_status, stock, note)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, orderID, micros(now), "", "caisse.refund_failed", string(o.Status), string(o.Status), "",
				"refund failed: "+caisse.Clip(reason, 500)); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE outbox SET status = ?, last_error = ?, attempts = attempts + 1 WHERE key = ? AND status = ?`,
			string(caisse.DeliveryFailed), caisse.Clip(reason, 2000), key, string(caisse.DeliveryPending)); err != nil {
			return err
		}
		return s.addOutbox(ctx, tx, now, alert)
	})
}

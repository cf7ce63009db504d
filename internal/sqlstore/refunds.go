package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caisse/caisse"
)

// The jobs below are inserted with the outbox message that records the
// decision to refund, in the transaction that made it (see writeOutbox):
// package payments runs them.

// RefundOversoldArgs is the job that asks Stripe to refund an order flagged
// oversold. It is inserted with the outbox message that records the
// decision, in the transaction that flagged the order.
type RefundOversoldArgs struct {
	OrderID string `json:"order_id"`
}

// Kind names the job in River's tables.
func (RefundOversoldArgs) Kind() string { return caisse.KindRefundOversold }

// RefundMismatchArgs is the job that asks Stripe to refund a payment taken
// for an order that it does not pay (CAISSE_MISMATCH_POLICY=refund). It is
// inserted with the outbox message that records the decision, in the
// transaction that flagged the order.
type RefundMismatchArgs struct {
	OrderID       string `json:"order_id"`
	PaymentIntent string `json:"payment_intent"`
}

// Kind names the job in River's tables.
func (RefundMismatchArgs) Kind() string { return caisse.KindRefundMismatch }

// RefundFraudArgs is the job that asks Stripe to refund a payment a card
// issuer warned is fraud (CAISSE_FRAUD_POLICY=refund), before it becomes a
// dispute. It is inserted with the outbox message that records the
// decision, in the transaction that recorded the warning.
type RefundFraudArgs struct {
	OrderID       string `json:"order_id"`
	PaymentIntent string `json:"payment_intent"`
	Charge        string `json:"charge"`
	// Key is the decision's outbox row, marked delivered once Stripe made
	// the refund.
	Key string `json:"key"`
}

// Kind names the job in River's tables.
func (RefundFraudArgs) Kind() string { return caisse.KindRefundFraud }

// FindOrderRecord returns everything stored about order id, or nil when
// there is no such order.
func (s *Store) FindOrderRecord(ctx context.Context, id string) (*caisse.OrderRecord, error) {
	return findOrderRecord(ctx, s.Driver.Reader(), id)
}

// RecordOversoldRefund records refund as the one made for oversold order
// orderID, marks the outbox row key (the decision) delivered and writes
// msgs (the apology), in one transaction.
func (s *Store) RecordOversoldRefund(ctx context.Context, orderID, refund, key string, msgs ...caisse.OutboxMessage) error {
	now := s.now()
	return s.RetryTx(ctx, func(tx Tx) error {
		if err := tx.Lock(ctx, "order:"+orderID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE orders SET oversold_refund = ?, updated_at = ? WHERE id = ?`,
			refund, micros(now), orderID); err != nil {
			return err
		}
		return s.delivered(ctx, tx, now, key, msgs)
	})
}

// RecordMismatchRefund adds refund to those made for payments that do not
// pay order orderID, marks the outbox row key (the decision) delivered and
// writes the message apology makes of the facts about the refunded payment,
// in one transaction. Without the order it records nothing.
func (s *Store) RecordMismatchRefund(ctx context.Context, orderID, paymentIntent, refund, key string,
	apology func(facts []caisse.Fact) caisse.OutboxMessage) error {
	now := s.now()
	return s.RetryTx(ctx, func(tx Tx) error {
		if err := tx.Lock(ctx, "order:"+orderID); err != nil {
			return err
		}
		o, err := findOrderRecord(ctx, tx, orderID)
		if err != nil || o == nil {
			return err
		}
		if !slices.Contains(o.MismatchRefunds, refund) {
			o.MismatchRefunds = append(o.MismatchRefunds, refund)
			slices.Sort(o.MismatchRefunds)
			if _, err := tx.Exec(ctx, `UPDATE orders SET mismatch_refunds = ?, updated_at = ? WHERE id = ?`,
				jsonList(o.MismatchRefunds), micros(now), orderID); err != nil {
				return err
			}
		}
		facts, err := paymentFacts(ctx, tx, orderID, paymentIntent)
		if err != nil {
			return err
		}
		return s.delivered(ctx, tx, now, key, []caisse.OutboxMessage{apology(facts)})
	})
}

// RecordFraudRefund records refund as the one made for the payment of
// order orderID a card issuer warned is fraud, and marks the outbox row key
// (the decision) delivered, in one transaction.
func (s *Store) RecordFraudRefund(ctx context.Context, orderID, refund, key string) error {
	now := s.now()
	return s.RetryTx(ctx, func(tx Tx) error {
		if err := tx.Lock(ctx, "order:"+orderID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE orders SET fraud_refund = ?, updated_at = ? WHERE id = ?`, refund, micros(now), orderID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE outbox SET status = ?, delivered_at = ?, attempts = attempts + 1 WHERE key = ?`,
			string(caisse.DeliveryDelivered), micros(now), key)
		return err
	})
}

// FailRefund marks the outbox row key (a refund decided) failed, with
// reason, and writes alert, in one transaction.
func (s *Store) FailRefund(ctx context.Context, key, reason string, alert caisse.OutboxMessage) error {
	return s.RetryTx(ctx, func(tx Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE outbox SET status = ?, last_error = ?, attempts = attempts + 1 WHERE key = ? AND status = ?`,
			string(caisse.DeliveryFailed), reason, key, string(caisse.DeliveryPending)); err != nil {
			return err
		}
		return s.addOutbox(ctx, tx, s.now(), alert)
	})
}

// delivered marks the outbox row key delivered and writes msgs.
func (s *Store) delivered(ctx context.Context, tx Tx, now time.Time, key string, msgs []caisse.OutboxMessage) error {
	if _, err := tx.Exec(ctx, `UPDATE outbox SET status = ?, delivered_at = ?, attempts = attempts + 1 WHERE key = ?`,
		string(caisse.DeliveryDelivered), micros(now), key); err != nil {
		return err
	}
	return s.writeOutbox(ctx, tx, now, msgs)
}

// paymentFacts returns the facts of an order about one payment: the
// payment intent, and the session that names it.
func paymentFacts(ctx context.Context, q Querier, orderID, paymentIntent string) ([]caisse.Fact, error) {
	rows, err := q.Query(ctx, `SELECT data FROM facts WHERE order_id = ? AND (id = ? OR payment_intent = ?)`, orderID, paymentIntent, paymentIntent)
	if err != nil {
		return nil, fmt.Errorf("error reading the facts about payment %s: %w", paymentIntent, err)
	}
	defer rows.Close()
	var facts []caisse.Fact
	for rows.Next() {
		var data string
		var f caisse.Fact
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("error reading the facts about payment %s: %w", paymentIntent, err)
		}
		if err := json.Unmarshal([]byte(data), &f); err != nil {
			return nil, fmt.Errorf("error reading the facts about payment %s: %w", paymentIntent, err)
		}
		facts = append(facts, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("error reading the facts about payment %s: %w", paymentIntent, err)
	}
	return facts, nil
}

// Cursor returns the value stored under name (0 when none is): how far a
// listing got.
func (s *Store) Cursor(ctx context.Context, name string) (int64, error) {
	var v int64
	err := s.Driver.Reader().QueryRow(ctx, `SELECT value FROM cursors WHERE name = ?`, name).Scan(&v)
	if err != nil && !errors.Is(err, ErrNoRows) {
		return 0, err
	}
	return v, nil
}

// AdvanceCursor stores value under name, unless a larger one is stored.
func (s *Store) AdvanceCursor(ctx context.Context, name string, value int64) error {
	return s.RetryTx(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO cursors (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE excluded.value > cursors.value`, name, value)
		return err
	})
}

// LastEventReceived returns when the last event was received (the zero
// time when none was).
func (s *Store) LastEventReceived(ctx context.Context) (time.Time, error) {
	var last int64
	err := s.Driver.Reader().QueryRow(ctx, `SELECT received_at FROM events ORDER BY seq DESC LIMIT 1`).Scan(&last)
	if err != nil && !errors.Is(err, ErrNoRows) {
		return time.Time{}, fmt.Errorf("error reading when the last event arrived: %w", err)
	}
	if last == 0 {
		return time.Time{}, nil
	}
	return fromMicros(last), nil
}

// CheckoutsOpenedSince counts the checkouts opened since since that had
// not expired by then.
func (s *Store) CheckoutsOpenedSince(ctx context.Context, since time.Time) (int64, error) {
	var n int64
	if err := s.Driver.Reader().QueryRow(ctx, `SELECT count(*) FROM orders WHERE checkout_expires_at > ? AND created_at >= ?`,
		micros(since), micros(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("error counting recent checkouts: %w", err)
	}
	return n, nil
}

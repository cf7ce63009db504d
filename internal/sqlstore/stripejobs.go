package sqlstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/stripe"
)

// RefundOversoldArgs is the job that asks Stripe to refund an order flagged
// oversold. It is inserted with the outbox message that records the
// decision, in the transaction that flagged the order.
type RefundOversoldArgs struct {
	OrderID string `json:"order_id"`
}

// Kind names the job in River's tables.
func (RefundOversoldArgs) Kind() string { return caisse.KindRefundOversold }

type refundWorker struct {
	river.WorkerDefaults[RefundOversoldArgs]
	store *Store
}

func (w *refundWorker) Work(ctx context.Context, job *river.Job[RefundOversoldArgs]) error {
	err := w.store.refundOversold(ctx, job.Args.OrderID)
	if err != nil && (job.Attempt >= job.MaxAttempts || isCancel(err)) {
		w.store.refundFailed(ctx, "stripe:"+caisse.KindRefundOversold+":"+job.Args.OrderID, job.Args.OrderID, "", err)
	}
	return err
}

func isCancel(err error) bool {
	var cancel *river.JobCancelError
	return errors.As(err, &cancel)
}

// refundFailed records that a refund caisse was to ask for could not be
// made: its outbox row is failed, and the team is told to refund by hand.
func (s *Store) refundFailed(ctx context.Context, key, orderID, paymentIntent string, cause error) {
	ctx = context.WithoutCancel(ctx)
	reason := caisse.Clip(cause.Error(), 2000)
	s.Logger.Error("caisse could not make a refund: refund the payment in the Stripe Dashboard",
		"order_id", orderID, "payment_intent", paymentIntent, "error", reason)
	err := s.RetryTx(ctx, func(tx Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE outbox SET status = ?, last_error = ?, attempts = attempts + 1 WHERE key = ? AND status = ?`,
			string(caisse.DeliveryFailed), reason, key, string(caisse.DeliveryPending)); err != nil {
			return err
		}
		fields := map[string]string{"Order": orderID}
		if paymentIntent != "" {
			fields["Payment"] = paymentIntent
		}
		return s.addOutbox(ctx, tx, s.now(), caisse.AlertMessage(key, caisse.TopicDeliveryFailed, orderID, caisse.Alert{
			Title:  "A refund caisse was to make failed",
			Text:   "caisse could not refund a payment of order " + orderID + ": " + reason + ". Refund it in the Stripe Dashboard.",
			Fields: fields, Link: caisse.DashboardURL(cmp.Or(paymentIntent, orderID), false),
		}))
	})
	if err != nil {
		s.Logger.Error("could not record a failed refund", "order_id", orderID, "error", err.Error())
	}
}

// refundOversold refunds an oversold order's payment, once: the idempotency
// key comes from the order, so a retry after a lost answer, or a second job,
// gets the same refund back from Stripe instead of a second one.
func (s *Store) refundOversold(ctx context.Context, orderID string) error {
	if s.Stripe == nil {
		return river.JobCancel(fmt.Errorf("order %s is oversold and caisse cannot refund it without STRIPE_SECRET_KEY: refund it in the Stripe Dashboard", orderID))
	}
	o, err := findOrderRecord(ctx, s.Driver.Reader(), orderID)
	if err != nil {
		return err
	}
	if o == nil || !o.Oversold || o.OversoldRefund != "" || o.PaymentIntent == "" {
		return nil
	}
	refund, err := s.Stripe.Refund(ctx, caisse.RefundParams{
		PaymentIntent: o.PaymentIntent, OrderID: orderID,
		Metadata:       map[string]string{"caisse_reason": "oversold"},
		IdempotencyKey: stripe.OversoldRefundIdempotencyKey(orderID),
	})
	if err != nil {
		return err
	}
	now := s.now()
	err = s.RetryTx(ctx, func(tx Tx) error {
		if err := tx.Lock(ctx, "order:"+orderID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE orders SET oversold_refund = ?, updated_at = ? WHERE id = ?`,
			refund, micros(now), orderID); err != nil {
			return err
		}
		return s.refunded(ctx, tx, now, "stripe:"+caisse.KindRefundOversold+":"+orderID, o.ID, o.CustomerEmail, "oversold",
			o.PaymentIntent, o.AmountPaid, o.Currency)
	})
	if err != nil {
		return fmt.Errorf("error recording refund %s of order %s: %w", refund, orderID, err)
	}
	s.Logger.Info("oversold order refunded", "order_id", orderID, "refund", refund, "outcome", "refunded")
	return nil
}

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

type mismatchRefundWorker struct {
	river.WorkerDefaults[RefundMismatchArgs]
	store *Store
}

func (w *mismatchRefundWorker) Work(ctx context.Context, job *river.Job[RefundMismatchArgs]) error {
	err := w.store.refundMismatch(ctx, job.Args.OrderID, job.Args.PaymentIntent)
	if err != nil && (job.Attempt >= job.MaxAttempts || isCancel(err)) {
		w.store.refundFailed(ctx, "stripe:"+caisse.KindRefundMismatch+":"+job.Args.OrderID+":"+job.Args.PaymentIntent,
			job.Args.OrderID, job.Args.PaymentIntent, err)
	}
	return err
}

// refundMismatch refunds one payment that does not pay its order, once:
// the idempotency key names the payment, so a retry gets the same refund.
func (s *Store) refundMismatch(ctx context.Context, orderID, paymentIntent string) error {
	if s.Stripe == nil {
		return river.JobCancel(fmt.Errorf("a payment for order %s does not pay it and caisse cannot refund it without STRIPE_SECRET_KEY: refund %s in the Stripe Dashboard", orderID, paymentIntent))
	}
	o, err := findOrderRecord(ctx, s.Driver.Reader(), orderID)
	if err != nil {
		return err
	}
	if o == nil || !o.PaymentMismatch || paymentIntent == "" {
		return nil
	}
	refund, err := s.Stripe.Refund(ctx, caisse.RefundParams{
		PaymentIntent: paymentIntent, OrderID: orderID,
		Metadata:       map[string]string{"caisse_reason": "payment_mismatch"},
		IdempotencyKey: stripe.MismatchRefundIdempotencyKey(paymentIntent),
	})
	if err != nil {
		return err
	}
	now := s.now()
	err = s.RetryTx(ctx, func(tx Tx) error {
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
		// The apology goes to whoever made the refunded payment, who may not
		// be the order's customer.
		facts, err := paymentFacts(ctx, tx, orderID, paymentIntent)
		if err != nil {
			return err
		}
		m, email := caisse.MismatchOf(facts, paymentIntent)
		return s.refunded(ctx, tx, now, "stripe:"+caisse.KindRefundMismatch+":"+orderID+":"+paymentIntent, o.ID, email,
			"payment_mismatch", paymentIntent, m.Amount, m.Currency)
	})
	if err != nil {
		return fmt.Errorf("error recording refund %s of a payment for order %s: %w", refund, orderID, err)
	}
	s.Logger.Info("payment that did not pay its order refunded", "order_id", orderID, "payment_intent", paymentIntent,
		"refund", refund, "outcome", "refunded")
	return nil
}

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

type fraudRefundWorker struct {
	river.WorkerDefaults[RefundFraudArgs]
	store *Store
}

func (w *fraudRefundWorker) Work(ctx context.Context, job *river.Job[RefundFraudArgs]) error {
	err := w.store.refundFraud(ctx, job.Args)
	if err != nil && (job.Attempt >= job.MaxAttempts || isCancel(err)) {
		w.store.refundFailed(ctx, job.Args.Key, job.Args.OrderID, job.Args.PaymentIntent, err)
	}
	return err
}

// refundFraud refunds a payment a card issuer warned is fraud, once: the
// idempotency key names the charge, so a retry, or the warning delivered
// again, gets the same refund back from Stripe. A payment already refunded
// in full is left as it is. No apology goes out: whoever paid may not be
// the card's holder.
func (s *Store) refundFraud(ctx context.Context, a RefundFraudArgs) error {
	if s.Stripe == nil {
		return river.JobCancel(fmt.Errorf("a card issuer warned that the payment of order %s is fraud and caisse cannot refund it without STRIPE_SECRET_KEY: refund it in the Stripe Dashboard", a.OrderID))
	}
	o, err := findOrderRecord(ctx, s.Driver.Reader(), a.OrderID)
	if err != nil {
		return err
	}
	if o == nil || o.FraudWarning == nil || o.FraudRefund != "" || a.PaymentIntent == "" ||
		(o.AmountPaid > 0 && o.AmountRefunded >= o.AmountPaid) {
		return nil
	}
	refund, err := s.Stripe.Refund(ctx, caisse.RefundParams{
		PaymentIntent: a.PaymentIntent, OrderID: a.OrderID, Reason: "fraudulent",
		Metadata:       map[string]string{"caisse_reason": "early_fraud_warning"},
		IdempotencyKey: stripe.FraudRefundIdempotencyKey(cmp.Or(a.Charge, a.PaymentIntent)),
	})
	if err != nil {
		return err
	}
	now := s.now()
	err = s.RetryTx(ctx, func(tx Tx) error {
		if err := tx.Lock(ctx, "order:"+a.OrderID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE orders SET fraud_refund = ?, updated_at = ? WHERE id = ?`, refund, micros(now), a.OrderID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE outbox SET status = ?, delivered_at = ?, attempts = attempts + 1 WHERE key = ?`,
			string(caisse.DeliveryDelivered), micros(now), a.Key)
		return err
	})
	if err != nil {
		return fmt.Errorf("error recording refund %s of order %s: %w", refund, a.OrderID, err)
	}
	s.Logger.Info("payment warned of fraud refunded", "order_id", a.OrderID, "payment_intent", a.PaymentIntent,
		"refund", refund, "outcome", "refunded")
	return nil
}

// refunded records that a refund caisse asked for is made: its outbox row
// is delivered, and the customer gets an apology that says why.
func (s *Store) refunded(ctx context.Context, tx Tx, now time.Time, key, orderID, email, reason, paymentIntent string, amount int64, currency string) error {
	if _, err := tx.Exec(ctx, `UPDATE outbox SET status = ?, delivered_at = ?, attempts = attempts + 1 WHERE key = ?`,
		string(caisse.DeliveryDelivered), micros(now), key); err != nil {
		return err
	}
	payload := map[string]any{"reason": reason, "payment_intent": paymentIntent}
	if reason == "payment_mismatch" {
		// Told only to whoever made the payment: never, for want of
		// their address, to the order's customer, whose payment it may
		// not be.
		payload[caisse.PayloadPayerOnly] = true
	}
	if amount > 0 {
		payload["amount"], payload["currency"] = amount, currency
	}
	return s.addOutbox(ctx, tx, now, caisse.OutboxMessage{
		Key: "email:" + caisse.TopicRefundApology + ":" + orderID + ":" + paymentIntent, Channel: caisse.ChannelEmail,
		Topic: caisse.TopicRefundApology, Recipient: email, OrderID: orderID, Payload: payload,
	})
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

// SweepArgs is the periodic job that releases the holds of checkouts that
// expired without an event, and prunes the payloads of old ignored events.
type SweepArgs struct{}

// Kind names the job in River's tables.
func (SweepArgs) Kind() string { return "sweep_checkouts" }

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	store *Store
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	if _, err := w.store.SweepCheckouts(ctx, w.store.CheckoutGrace); err != nil {
		return err
	}
	n, err := w.store.PruneIgnored(ctx)
	if n > 0 {
		w.store.Logger.Info("payloads of old ignored events pruned; their ids are kept", "events", n, "retention", w.store.Retention.String())
	}
	return err
}

// ReconcileArgs is the periodic job that catches up on events Stripe never
// delivered.
type ReconcileArgs struct{}

// Kind names the job in River's tables.
func (ReconcileArgs) Kind() string { return "reconcile_events" }

type reconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	store *Store
}

// Timeout lets a first catch-up read up to 30 days of events: far longer
// than an event's processing, which the queue's default timeout is set for.
func (w *reconcileWorker) Timeout(*river.Job[ReconcileArgs]) time.Duration { return 10 * time.Minute }

func (w *reconcileWorker) Work(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
	_, err := w.store.Reconcile(ctx)
	return err
}

// Stripe keeps events for 30 days; reconcile never asks for older ones.
const eventsKeptFor = 30 * 24 * time.Hour

// reconcileOverlap is how far before the stored cursor reconcile reads
// again: events created in the same second, or listed a little late, are
// not missed, and the ones already stored are skipped.
const reconcileOverlap = 5 * time.Minute

// ReconcileReport is what a catch-up found.
type ReconcileReport struct {
	// Since is the creation time the listing started from.
	Since time.Time `json:"since"`
	// Found is how many events Stripe listed.
	Found int `json:"found"`
	// Stored is how many of them caisse had not stored, and now has.
	Stored int `json:"stored"`
}

// Reconcile lists Stripe's events from the stored cursor (at most 30 days
// back) and puts each one caisse has not stored through the inbox, as if it
// had been delivered: stored, then processed by the workers.
func (s *Store) Reconcile(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	if s.Stripe == nil {
		return rep, caisse.Errorf(caisse.EINVALID, "catching up on events needs STRIPE_SECRET_KEY")
	}
	if s.Incoming == nil {
		return rep, errors.New("catching up on events needs the store's inbox")
	}
	var cursor int64
	err := s.Driver.Reader().QueryRow(ctx, `SELECT value FROM cursors WHERE name = 'stripe_events'`).Scan(&cursor)
	if err != nil && !errors.Is(err, ErrNoRows) {
		return rep, fmt.Errorf("error reading where catching up got to: %w", err)
	}
	now := s.now()
	oldest := now.Add(-eventsKeptFor + time.Minute)
	rep.Since = oldest
	if cursor > 0 {
		rep.Since = time.Unix(cursor, 0).UTC().Add(-reconcileOverlap)
		if rep.Since.Before(oldest) {
			rep.Since = oldest
		}
	}
	rep.Since = rep.Since.Truncate(time.Second)
	newest := cursor
	err = s.Stripe.ListEvents(ctx, rep.Since, func(id string, created int64, raw []byte) error {
		rep.Found++
		e, err := stripe.DecodeEvent(raw)
		if err != nil {
			s.Logger.Warn("Stripe listed an event caisse cannot read; skipped", "event_id", id, "error", err.Error())
			return nil
		}
		inserted, err := s.Incoming.ReceiveEvent(ctx, e)
		if err != nil {
			return err
		}
		if inserted {
			rep.Stored++
			s.Logger.Info("event caught up: it was never delivered", "event_id", id, "type", e.Type, "outcome", "stored")
		}
		newest = max(newest, created)
		if s.ReconcileProgress != nil && rep.Found%100 == 0 {
			s.ReconcileProgress(rep)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("error catching up on events: %w", err)
	}
	if newest > cursor {
		err := s.RetryTx(ctx, func(tx Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO cursors (name, value) VALUES ('stripe_events', ?)
				ON CONFLICT (name) DO UPDATE SET value = excluded.value WHERE excluded.value > cursors.value`, newest)
			return err
		})
		if err != nil {
			return rep, fmt.Errorf("error storing where catching up got to: %w", err)
		}
	}
	return rep, nil
}

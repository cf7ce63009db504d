package payments

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/sqlstore"
	"github.com/caisse/caisse/stripe"
)

type refundWorker struct {
	river.WorkerDefaults[sqlstore.RefundOversoldArgs]
	jobs *Jobs
}

func (w *refundWorker) Work(ctx context.Context, job *river.Job[sqlstore.RefundOversoldArgs]) error {
	err := w.jobs.refundOversold(ctx, job.Args.OrderID)
	if err != nil && (job.Attempt >= job.MaxAttempts || isCancel(err)) {
		w.jobs.refundFailed(ctx, "stripe:"+caisse.KindRefundOversold+":"+job.Args.OrderID, job.Args.OrderID, "", err)
	}
	return err
}

func isCancel(err error) bool {
	var cancel *river.JobCancelError
	return errors.As(err, &cancel)
}

// refundFailed records that a refund caisse was to ask for could not be
// made: its outbox row is failed, and the team is told to refund by hand.
func (j *Jobs) refundFailed(ctx context.Context, key, orderID, paymentIntent string, cause error) {
	ctx = context.WithoutCancel(ctx)
	reason := caisse.Clip(cause.Error(), 2000)
	j.logger().Error("caisse could not make a refund: refund the payment in the Stripe Dashboard",
		"order_id", orderID, "payment_intent", paymentIntent, "error", reason)
	err := j.Store.FailRefund(ctx, key, reason, caisse.AlertMessage(key, caisse.TopicDeliveryFailed, orderID,
		caisse.RefundFailedAlert(orderID, paymentIntent, reason)))
	if err != nil {
		j.logger().Error("could not record a failed refund", "order_id", orderID, "error", err.Error())
	}
}

// refundOversold refunds an oversold order's payment, once: the idempotency
// key comes from the order, so a retry after a lost answer, or a second job,
// gets the same refund back from Stripe instead of a second one.
func (j *Jobs) refundOversold(ctx context.Context, orderID string) error {
	if j.Stripe == nil {
		return river.JobCancel(fmt.Errorf("order %s is oversold and caisse cannot refund it without STRIPE_SECRET_KEY: refund it in the Stripe Dashboard", orderID))
	}
	o, err := j.Store.FindOrderRecord(ctx, orderID)
	if err != nil {
		return err
	}
	if o == nil || !o.Oversold || o.OversoldRefund != "" || o.PaymentIntent == "" {
		return nil
	}
	refund, err := j.Stripe.Refund(ctx, caisse.RefundParams{
		PaymentIntent: o.PaymentIntent, OrderID: orderID,
		Metadata:       map[string]string{"caisse_reason": "oversold"},
		IdempotencyKey: stripe.OversoldRefundIdempotencyKey(orderID),
	})
	if err != nil {
		return err
	}
	key := "stripe:" + caisse.KindRefundOversold + ":" + orderID
	err = j.Store.RecordOversoldRefund(ctx, orderID, refund, key,
		apology(o.ID, o.CustomerEmail, "oversold", o.PaymentIntent, o.AmountPaid, o.Currency))
	if err != nil {
		return fmt.Errorf("error recording refund %s of order %s: %w", refund, orderID, err)
	}
	j.logger().Info("oversold order refunded", "order_id", orderID, "refund", refund, "outcome", "refunded")
	return nil
}

type mismatchRefundWorker struct {
	river.WorkerDefaults[sqlstore.RefundMismatchArgs]
	jobs *Jobs
}

func (w *mismatchRefundWorker) Work(ctx context.Context, job *river.Job[sqlstore.RefundMismatchArgs]) error {
	err := w.jobs.refundMismatch(ctx, job.Args.OrderID, job.Args.PaymentIntent)
	if err != nil && (job.Attempt >= job.MaxAttempts || isCancel(err)) {
		w.jobs.refundFailed(ctx, "stripe:"+caisse.KindRefundMismatch+":"+job.Args.OrderID+":"+job.Args.PaymentIntent,
			job.Args.OrderID, job.Args.PaymentIntent, err)
	}
	return err
}

// refundMismatch refunds one payment that does not pay its order, once:
// the idempotency key names the payment, so a retry gets the same refund.
func (j *Jobs) refundMismatch(ctx context.Context, orderID, paymentIntent string) error {
	if j.Stripe == nil {
		return river.JobCancel(fmt.Errorf("a payment for order %s does not pay it and caisse cannot refund it without STRIPE_SECRET_KEY: refund %s in the Stripe Dashboard", orderID, paymentIntent))
	}
	o, err := j.Store.FindOrderRecord(ctx, orderID)
	if err != nil {
		return err
	}
	if o == nil || !o.PaymentMismatch || paymentIntent == "" {
		return nil
	}
	refund, err := j.Stripe.Refund(ctx, caisse.RefundParams{
		PaymentIntent: paymentIntent, OrderID: orderID,
		Metadata:       map[string]string{"caisse_reason": "payment_mismatch"},
		IdempotencyKey: stripe.MismatchRefundIdempotencyKey(paymentIntent),
	})
	if err != nil {
		return err
	}
	key := "stripe:" + caisse.KindRefundMismatch + ":" + orderID + ":" + paymentIntent
	err = j.Store.RecordMismatchRefund(ctx, orderID, paymentIntent, refund, key, func(facts []caisse.Fact) caisse.OutboxMessage {
		// The apology goes to whoever made the refunded payment, who may not
		// be the order's customer.
		m, email := caisse.MismatchOf(facts, paymentIntent)
		return apology(orderID, email, "payment_mismatch", paymentIntent, m.Amount, m.Currency)
	})
	if err != nil {
		return fmt.Errorf("error recording refund %s of a payment for order %s: %w", refund, orderID, err)
	}
	j.logger().Info("payment that did not pay its order refunded", "order_id", orderID, "payment_intent", paymentIntent,
		"refund", refund, "outcome", "refunded")
	return nil
}

type fraudRefundWorker struct {
	river.WorkerDefaults[sqlstore.RefundFraudArgs]
	jobs *Jobs
}

func (w *fraudRefundWorker) Work(ctx context.Context, job *river.Job[sqlstore.RefundFraudArgs]) error {
	err := w.jobs.refundFraud(ctx, job.Args)
	if err != nil && (job.Attempt >= job.MaxAttempts || isCancel(err)) {
		w.jobs.refundFailed(ctx, job.Args.Key, job.Args.OrderID, job.Args.PaymentIntent, err)
	}
	return err
}

// refundFraud refunds a payment a card issuer warned is fraud, once: the
// idempotency key names the charge, so a retry, or the warning delivered
// again, gets the same refund back from Stripe. A payment already refunded
// in full is left as it is. No apology goes out: whoever paid may not be
// the card's holder.
func (j *Jobs) refundFraud(ctx context.Context, a sqlstore.RefundFraudArgs) error {
	if j.Stripe == nil {
		return river.JobCancel(fmt.Errorf("a card issuer warned that the payment of order %s is fraud and caisse cannot refund it without STRIPE_SECRET_KEY: refund it in the Stripe Dashboard", a.OrderID))
	}
	o, err := j.Store.FindOrderRecord(ctx, a.OrderID)
	if err != nil {
		return err
	}
	if o == nil || o.FraudWarning == nil || o.FraudRefund != "" || a.PaymentIntent == "" ||
		(o.AmountPaid > 0 && o.AmountRefunded >= o.AmountPaid) {
		return nil
	}
	refund, err := j.Stripe.Refund(ctx, caisse.RefundParams{
		PaymentIntent: a.PaymentIntent, OrderID: a.OrderID, Reason: "fraudulent",
		Metadata:       map[string]string{"caisse_reason": "early_fraud_warning"},
		IdempotencyKey: stripe.FraudRefundIdempotencyKey(cmp.Or(a.Charge, a.PaymentIntent)),
	})
	if err != nil {
		return err
	}
	err = j.Store.RecordFraudRefund(ctx, a.OrderID, refund, a.Key)
	if err != nil {
		return fmt.Errorf("error recording refund %s of order %s: %w", refund, a.OrderID, err)
	}
	j.logger().Info("payment warned of fraud refunded", "order_id", a.OrderID, "payment_intent", a.PaymentIntent,
		"refund", refund, "outcome", "refunded")
	return nil
}

// apology is the customer's email saying why caisse refunded a payment;
// the refund's outbox row is marked delivered with it.
func apology(orderID, email, reason, paymentIntent string, amount int64, currency string) caisse.OutboxMessage {
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
	return caisse.OutboxMessage{
		Key: "email:" + caisse.TopicRefundApology + ":" + orderID + ":" + paymentIntent, Channel: caisse.ChannelEmail,
		Topic: caisse.TopicRefundApology, Recipient: email, OrderID: orderID, Payload: payload,
	}
}

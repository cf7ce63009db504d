package payments

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/riverqueue/river"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/sqlstore"
)

var _ caisse.RefundService = (*Jobs)(nil)

// RequestRefund records the owner's refund r of order id as requested and
// queues the job that asks Stripe for it, in one transaction; an identical
// request (see caisse.RefundID) answers the refund made the first time.
// Without a secret key caisse cannot ask Stripe, and refuses at once.
func (j *Jobs) RequestRefund(ctx context.Context, id string, r caisse.RefundRequest) (*caisse.OwnerRefund, error) {
	if j.Stripe == nil {
		return nil, caisse.Errorf(caisse.ECONFLICT, "caisse refunds through Stripe's API and needs STRIPE_SECRET_KEY for it: set it, or refund order %s in the Stripe Dashboard", id)
	}
	if err := r.Normalize(); err != nil {
		return nil, err
	}
	if err := j.sameCurrency(ctx, id); err != nil {
		return nil, err
	}
	now := j.now()
	x, err := j.Store.RequestRefund(ctx, id, func(o *caisse.OrderRecord) (*caisse.OwnerRefund, error) {
		return o.DecideRefund(r, now)
	})
	if err != nil {
		return nil, err
	}
	if !x.Repeated {
		j.logger().Info("refund requested by the owner", "order_id", id, "refund", x.ID, "amount", x.Amount, "restock", x.Restock)
	}
	return x, nil
}

// sameCurrency refuses to refund an order whose payment was made in
// another currency than the order's (a checkout converted by Adaptive
// Pricing): Stripe reads a refund's amount in the payment's currency, and
// the owner's is in the order's.
func (j *Jobs) sameCurrency(ctx context.Context, id string) error {
	o, err := j.Store.FindOrderRecord(ctx, id)
	if err != nil || o == nil || o.PaymentIntent == "" {
		return err // the decision says what is missing
	}
	f, err := j.Store.FindFact(ctx, o.PaymentIntent)
	if caisse.ErrorCode(err) == caisse.ENOTFOUND {
		return nil // no event told of the payment itself: the session's currency is the order's
	} else if err != nil {
		return err
	}
	if f.Currency != "" && o.Currency != "" && f.Currency != o.Currency {
		return caisse.Errorf(caisse.ECONFLICT, "order %s was paid in %s, not in its currency %s: refund it in the Stripe Dashboard",
			id, strings.ToUpper(f.Currency), strings.ToUpper(o.Currency))
	}
	return nil
}

type ownerRefundWorker struct {
	river.WorkerDefaults[sqlstore.RefundOwnerArgs]
	jobs *Jobs
}

func (w *ownerRefundWorker) Work(ctx context.Context, job *river.Job[sqlstore.RefundOwnerArgs]) error {
	a := job.Args
	err := w.jobs.refundOwner(ctx, a)
	if err != nil && (job.Attempt >= job.MaxAttempts || isCancel(err)) {
		w.jobs.ownerRefundFailed(ctx, a, err)
	}
	return err
}

// refundOwner asks Stripe for a refund the owner asked for, once: its
// idempotency key is the refund's id, so a retry after a lost answer gets
// the same refund back. Stripe refusing it (an amount it says is not left,
// a payment it cannot refund) is final: retrying would get the same no.
func (j *Jobs) refundOwner(ctx context.Context, a sqlstore.RefundOwnerArgs) error {
	if j.Stripe == nil {
		return river.JobCancel(fmt.Errorf("caisse cannot refund order %s without STRIPE_SECRET_KEY: refund it in the Stripe Dashboard", a.OrderID))
	}
	o, err := j.Store.FindOrderRecord(ctx, a.OrderID)
	if err != nil {
		return err
	}
	if o == nil {
		return nil
	}
	i := slices.IndexFunc(o.RefundsRequested, func(x caisse.OwnerRefund) bool { return x.ID == a.Refund })
	if i < 0 || o.RefundsRequested[i].Status == caisse.RefundFailed || o.RefundsRequested[i].Refund != "" {
		return nil
	}
	x := o.RefundsRequested[i]
	refund, err := j.Stripe.Refund(ctx, caisse.RefundParams{
		PaymentIntent: o.PaymentIntent, OrderID: o.ID, Amount: x.Amount, Reason: x.Reason,
		Metadata:       map[string]string{"caisse_reason": "owner", "caisse_refund": x.ID},
		IdempotencyKey: x.ID,
	})
	var refused *caisse.StripeError
	if errors.As(err, &refused) && refused.Status >= 400 && refused.Status < 500 && refused.Status != 409 && refused.Status != 429 {
		return river.JobCancel(err)
	} else if err != nil {
		return err
	}
	if err := j.Store.RecordOwnerRefund(ctx, o.ID, x.ID, refund, a.Key); err != nil {
		return fmt.Errorf("error recording refund %s of order %s: %w", refund, o.ID, err)
	}
	j.logger().Info("refund the owner asked for made by Stripe", "order_id", o.ID, "refund", refund, "amount", x.Amount,
		"outcome", "refunded")
	return nil
}

// ownerRefundFailed records that a refund the owner asked for could not be
// made: it is failed on the order (its amount and lines may be refunded
// again), its outbox row is failed, and the team is told.
func (j *Jobs) ownerRefundFailed(ctx context.Context, a sqlstore.RefundOwnerArgs, cause error) {
	ctx = context.WithoutCancel(ctx)
	reason := caisse.Clip(cause.Error(), 2000)
	j.logger().Error("caisse could not make a refund the owner asked for", "order_id", a.OrderID, "refund", a.Refund, "error", reason)
	err := j.Store.FailOwnerRefund(ctx, a.OrderID, a.Refund, a.Key, reason, caisse.AlertMessage(a.Key, caisse.TopicDeliveryFailed, a.OrderID,
		caisse.RefundFailedAlert(a.OrderID, "", reason)))
	if err != nil {
		j.logger().Error("could not record a failed refund", "order_id", a.OrderID, "error", err.Error())
	}
}

package payments

import (
	"context"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/sqlstore"
)

type shipmentWorker struct {
	river.WorkerDefaults[sqlstore.ShipmentTrackingArgs]
	jobs *Jobs
}

func (w *shipmentWorker) Work(ctx context.Context, job *river.Job[sqlstore.ShipmentTrackingArgs]) error {
	pi, err := w.jobs.setShipment(ctx, job.Args)
	if err != nil && (job.Attempt >= job.MaxAttempts || isCancel(err)) {
		reason := caisse.Clip(err.Error(), 2000)
		w.jobs.logger().Error("Stripe did not take a shipped order's tracking: add it to the payment in the Stripe Dashboard",
			"order_id", job.Args.OrderID, "payment_intent", pi, "error", reason)
		alert := caisse.AlertMessage(job.Args.Key, caisse.TopicDeliveryFailed, job.Args.OrderID,
			caisse.ShipmentFailedAlert(job.Args.OrderID, pi, reason))
		if ferr := w.jobs.Store.FailRefund(context.WithoutCancel(ctx), job.Args.Key, reason, alert); ferr != nil {
			w.jobs.logger().Error("could not record a failed request to Stripe", "order_id", job.Args.OrderID, "error", ferr.Error())
		}
	}
	return err
}

// setShipment gives the payment intent of a shipped order the address it
// went to, its carrier and its tracking number, as the order holds them
// when the job runs (a correction made meanwhile is the one sent). Setting
// them twice sets the same.
func (j *Jobs) setShipment(ctx context.Context, a sqlstore.ShipmentTrackingArgs) (string, error) {
	o, err := j.Store.FindOrderRecord(ctx, a.OrderID)
	if err != nil {
		return "", err
	}
	if o == nil || o.Shipment == nil || o.Shipping == nil || o.PaymentIntent == "" {
		return "", j.Store.MarkDelivered(ctx, a.Key)
	}
	if j.Stripe == nil {
		return o.PaymentIntent, river.JobCancel(fmt.Errorf("caisse cannot give Stripe the tracking of order %s without STRIPE_SECRET_KEY", a.OrderID))
	}
	if err := j.Stripe.SetShipment(ctx, o.PaymentIntent, *o.Shipping, *o.Shipment); err != nil {
		return o.PaymentIntent, err
	}
	j.logger().Info("order's tracking given to Stripe", "order_id", a.OrderID, "payment_intent", o.PaymentIntent)
	return o.PaymentIntent, j.Store.MarkDelivered(ctx, a.Key)
}

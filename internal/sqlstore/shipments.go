package sqlstore

import (
	"context"

	"github.com/caisse/caisse"
)

// ShipmentTrackingArgs is the job that gives Stripe an order's carrier and
// tracking number, on its payment intent. Key is its outbox row, marked
// delivered once Stripe took them.
type ShipmentTrackingArgs struct {
	OrderID string `json:"order_id"`
	Key     string `json:"key"`
}

// Kind is the job's kind in River.
func (ShipmentTrackingArgs) Kind() string { return caisse.KindShipmentTracking }

// ShipOrder records that an order left (caisse.Rules.ShipOrder): the order,
// its timeline and its messages in one transaction.
func (s *Store) ShipOrder(ctx context.Context, id string, req caisse.ShipRequest) (*caisse.Order, error) {
	err := s.RetryTx(ctx, func(tx Tx) error {
		v := s.NewView(tx)
		if _, err := s.Rules.ShipOrder(ctx, v, id, req); err != nil {
			return err
		}
		return v.Flush(ctx)
	})
	if err != nil {
		return nil, wrap(err, "error shipping order %s", id)
	}
	return s.FindOrder(ctx, id)
}

// MarkDelivered marks the outbox row key (a request to Stripe) delivered.
func (s *Store) MarkDelivered(ctx context.Context, key string) error {
	now := s.now()
	return s.RetryTx(ctx, func(tx Tx) error { return s.delivered(ctx, tx, now, key, nil) })
}

package payments

import (
	"context"

	"github.com/riverqueue/river"
)

// SweepArgs is the periodic job that releases the holds of checkouts that
// expired without an event, and prunes the payloads of old ignored events.
type SweepArgs struct{}

// Kind names the job in River's tables.
func (SweepArgs) Kind() string { return "sweep_checkouts" }

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	jobs *Jobs
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	if _, err := w.jobs.Store.SweepCheckouts(ctx, w.jobs.CheckoutGrace); err != nil {
		return err
	}
	n, err := w.jobs.Store.PruneIgnored(ctx)
	if n > 0 {
		w.jobs.logger().Info("payloads of old ignored events pruned; their ids are kept", "events", n, "retention", w.jobs.Store.Retention.String())
	}
	return err
}

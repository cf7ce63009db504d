package payments

import (
	"context"

	"github.com/riverqueue/river"
)

// ForgetArgs is the periodic job that erases customers' personal data from
// the orders older than the retention (CAISSE_PERSONAL_DATA_RETENTION).
type ForgetArgs struct{}

// Kind names the job in River's tables.
func (ForgetArgs) Kind() string { return "forget_personal_data" }

// forgetChunk is how many orders one transaction erases.
const forgetChunk = 100

type forgetWorker struct {
	river.WorkerDefaults[ForgetArgs]
	jobs *Jobs
}

func (w *forgetWorker) Work(ctx context.Context, _ *river.Job[ForgetArgs]) error {
	_, err := w.jobs.ForgetOldOrders(ctx)
	return err
}

// ForgetOldOrders erases the personal data of every order created longer
// than PersonalDataRetention ago that still holds some, a chunk of orders
// per transaction, and returns how many orders it erased. It does nothing
// when the retention is not set.
func (j *Jobs) ForgetOldOrders(ctx context.Context) (int, error) {
	if j.PersonalDataRetention <= 0 {
		return 0, nil
	}
	cutoff := j.now().Add(-j.PersonalDataRetention)
	total, events := 0, 0
	for {
		f, err := j.Store.ForgetOrdersBefore(ctx, cutoff, forgetChunk)
		if err != nil {
			return total, err
		}
		total += len(f.Orders)
		events += f.Events
		if len(f.Orders) < forgetChunk {
			break
		}
	}
	if total > 0 {
		j.logger().Info("customers' personal data erased from old orders; amounts and statuses kept", "orders", total,
			"events", events, "retention", j.PersonalDataRetention.String())
	}
	return total, nil
}

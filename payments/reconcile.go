package payments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/stripe"
)

// ReconcileArgs is the periodic job that catches up on events Stripe never
// delivered.
type ReconcileArgs struct{}

// Kind names the job in River's tables.
func (ReconcileArgs) Kind() string { return "reconcile_events" }

type reconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	jobs *Jobs
}

// Timeout lets a first catch-up read up to 30 days of events: far longer
// than an event's processing, which the queue's default timeout is set for.
func (w *reconcileWorker) Timeout(*river.Job[ReconcileArgs]) time.Duration { return 10 * time.Minute }

func (w *reconcileWorker) Work(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
	_, err := w.jobs.Reconcile(ctx)
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
func (j *Jobs) Reconcile(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	if j.Stripe == nil {
		return rep, caisse.Errorf(caisse.EINVALID, "catching up on events needs STRIPE_SECRET_KEY")
	}
	if j.Inbox == nil {
		return rep, errors.New("catching up on events needs the inbox")
	}
	cursor, err := j.Store.Cursor(ctx, "stripe_events")
	if err != nil {
		return rep, fmt.Errorf("error reading where catching up got to: %w", err)
	}
	now := j.now()
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
	err = j.Stripe.ListEvents(ctx, rep.Since, func(id string, created int64, raw []byte) error {
		rep.Found++
		e, err := stripe.DecodeEvent(raw)
		if err != nil {
			j.logger().Warn("Stripe listed an event caisse cannot read; skipped", "event_id", id, "error", err.Error())
			return nil
		}
		inserted, err := j.Inbox.ReceiveEvent(ctx, e)
		if err != nil {
			return err
		}
		if inserted {
			rep.Stored++
			j.logger().Info("event caught up: it was never delivered", "event_id", id, "type", e.Type, "outcome", "stored")
		}
		newest = max(newest, created)
		if j.ReconcileProgress != nil && rep.Found%100 == 0 {
			j.ReconcileProgress(rep)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("error catching up on events: %w", err)
	}
	if newest > cursor {
		err := j.Store.AdvanceCursor(ctx, "stripe_events", newest)
		if err != nil {
			return rep, fmt.Errorf("error storing where catching up got to: %w", err)
		}
	}
	return rep, nil
}

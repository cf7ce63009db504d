package payments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/sqlstore"
)

// The books' jobs: a balance transaction's figures asked of Stripe by its
// id, and the balance transactions an automatic payout carried. Both run
// after the transaction that named them committed, never inside one, so a
// slow or failing Stripe delays no event; both are retried with River's
// backoff, waiting as long as a 429's Retry-After asks; both only add to
// the books, so running one twice, or late, changes nothing.

type fetchBalanceWorker struct {
	river.WorkerDefaults[sqlstore.FetchBalanceArgs]
	jobs *Jobs
}

func (w *fetchBalanceWorker) Work(ctx context.Context, job *river.Job[sqlstore.FetchBalanceArgs]) error {
	return w.jobs.fetchBalance(ctx, job.Args.ID)
}

// noKey is why the books stay empty without a secret key.
const noKey = "caisse learns Stripe's fees and payouts through Stripe's API, which needs STRIPE_SECRET_KEY"

// fetchBalance asks Stripe for a balance transaction's figures, unless
// caisse has them already.
func (j *Jobs) fetchBalance(ctx context.Context, id string) error {
	if j.Stripe == nil {
		return river.JobCancel(fmt.Errorf("balance transaction %s: %s", id, noKey))
	}
	known, err := j.Store.BalanceKnown(ctx, id)
	if err != nil || known {
		return err
	}
	t, err := j.Stripe.BalanceTransaction(ctx, id)
	if err != nil {
		return stripeRetry(err)
	}
	if err := j.Store.PutBalance(ctx, []caisse.BalanceTransaction{t}); err != nil {
		return fmt.Errorf("error storing balance transaction %s: %w", id, err)
	}
	j.logger().Info("balance transaction learnt", "balance_transaction", id, "fee", t.Fee, "currency", t.Currency)
	return nil
}

type listPayoutWorker struct {
	river.WorkerDefaults[sqlstore.ListPayoutArgs]
	jobs *Jobs
}

func (w *listPayoutWorker) Work(ctx context.Context, job *river.Job[sqlstore.ListPayoutArgs]) error {
	return w.jobs.listPayout(ctx, job.Args.Payout)
}

// listPayout lists what a payout carried, storing each page as it comes
// (a retry after a failed page stores the first ones again, which changes
// nothing), then records the payout as listed.
func (j *Jobs) listPayout(ctx context.Context, payout string) error {
	if j.Stripe == nil {
		return river.JobCancel(fmt.Errorf("payout %s: %s", payout, noKey))
	}
	n := 0
	err := j.Stripe.PayoutTransactions(ctx, payout, func(txns []caisse.BalanceTransaction) error {
		n += len(txns)
		return j.Store.PutBalance(ctx, txns)
	})
	if err != nil {
		return stripeRetry(err)
	}
	if err := j.Store.PayoutListed(ctx, payout); err != nil {
		return err
	}
	j.logger().Info("payout listed", "payout", payout, "balance_transactions", n)
	return nil
}

// BooksCatchUpArgs is the periodic job that queues again the lookups the
// books still wait for (RequeueBooks): after a secret key is added, or a
// lookup Stripe refused, the figures fill in without an event.
type BooksCatchUpArgs struct{}

// Kind is the job's kind in River.
func (BooksCatchUpArgs) Kind() string { return "books_catch_up" }

// booksCatchUpEvery is how often the books' lookups are queued again (and
// once at start).
const booksCatchUpEvery = 6 * time.Hour

type booksCatchUpWorker struct {
	river.WorkerDefaults[BooksCatchUpArgs]
	jobs *Jobs
}

func (w *booksCatchUpWorker) Work(ctx context.Context, _ *river.Job[BooksCatchUpArgs]) error {
	txns, payouts, err := w.jobs.Store.RequeueBooks(ctx)
	if err != nil {
		return err
	}
	if txns+payouts > 0 {
		w.jobs.logger().Info("the books' lookups queued again", "balance_transactions", txns, "payouts", payouts)
	}
	return nil
}

// stripeRetry turns Stripe's answer into the job's: a 429 with Retry-After
// waits that long (a snooze, not a failed attempt); a 404 will not change,
// so the job stops; anything else is retried with River's backoff.
func stripeRetry(err error) error {
	var se *caisse.StripeError
	if errors.As(err, &se) {
		switch {
		case se.Status == 429 && se.RetryAfter > 0:
			return river.JobSnooze(se.RetryAfter)
		case se.Status == 404 || se.Status == 401 || se.Status == 403:
			return river.JobCancel(err)
		}
	}
	return err
}

type listRefundsWorker struct {
	river.WorkerDefaults[sqlstore.ListRefundsArgs]
	jobs *Jobs
}

func (w *listRefundsWorker) Work(ctx context.Context, job *river.Job[sqlstore.ListRefundsArgs]) error {
	return w.jobs.listRefunds(ctx, job.Args.Charge)
}

// listRefunds asks Stripe for a charge's refunds and merges their balance
// transactions (a refund whose one comes by id only gets its own lookup).
func (j *Jobs) listRefunds(ctx context.Context, charge string) error {
	if j.Stripe == nil {
		return river.JobCancel(fmt.Errorf("refunds of charge %s: %s", charge, noKey))
	}
	txns, err := j.Stripe.ChargeRefunds(ctx, charge)
	if err != nil {
		return stripeRetry(err)
	}
	return j.Store.PutBalance(ctx, txns)
}

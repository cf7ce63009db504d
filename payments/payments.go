// Package payments is what caisse does through Stripe's API: the checkout
// a shop asks for (its session opened, replaced or cancelled), and of its
// own accord, with the River jobs that do it, the refunds caisse's policies
// decide, catching up on events Stripe never delivered, the checks of the
// webhook endpoint and of Stripe's silence, and the sweep of expired
// checkouts. It owns River's configuration: its workers and periodic jobs.
//
// It decides and acts; it holds no SQL. It reads and writes through the
// store's exported methods (package internal/sqlstore), each one
// transaction, and never calls Stripe inside one.
//
// It must not hold SQL: what it records goes through the store's one-transaction
// methods.
package payments

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/sqlstore"
)

// Inbox is what catching up asks of the inbox: to store the events Stripe
// lists that caisse never received.
type Inbox interface {
	// ReceiveEvent stores a verified event, pending.
	ReceiveEvent(ctx context.Context, e *caisse.Event) (bool, error)
}

// Jobs runs what caisse asks of Stripe, and the periodic jobs, on River.
type Jobs struct {
	// Store is the database's store: its clock (Now), its logger, how
	// often it polls and how soon lost work is rescued are the jobs' too.
	Store *sqlstore.Store
	// Stripe is the Stripe API, for refunds, catch-up and the endpoint
	// check; nil when no secret key is set.
	Stripe caisse.StripeAPI
	// Inbox receives the events caisse catches up on.
	Inbox Inbox
	// Logger receives what the jobs have to say (the store's when nil).
	Logger *slog.Logger

	// MaxAttempts is how many times a refund caisse asks Stripe for is
	// tried before it fails for good (CAISSE_MAX_ATTEMPTS, like events).
	MaxAttempts int
	// CheckoutGrace is how long after a checkout's expiry the sweep waits
	// for Stripe's checkout.session.expired before releasing its units.
	CheckoutGrace time.Duration
	// SweepEvery is how often expired checkouts are looked for.
	SweepEvery time.Duration
	// ReconcileEvery is how often Stripe's events API is read for events
	// that never arrived (0: never; needs Stripe).
	ReconcileEvery time.Duration
	// ReconcileProgress, when set, is told how catching up goes, every 100
	// events Stripe lists (the command line shows it on a terminal).
	ReconcileProgress func(ReconcileReport)
	// AlertSilence is how long without any event, while checkouts are
	// opened, before the team is alerted (0: never).
	AlertSilence time.Duration
	// ChecksEvery is how often the silence and the Stripe webhook endpoint
	// are checked.
	ChecksEvery time.Duration
	// WebhookPaths are the paths caisse receives Stripe's webhooks on, to
	// recognise its endpoint among the account's.
	WebhookPaths []string

	// PersonalDataRetention is how long customers' personal data is kept
	// on an order, from its creation (0: kept).
	PersonalDataRetention time.Duration
	// ForgetEvery is how often orders past PersonalDataRetention are looked
	// for.
	ForgetEvery time.Duration

	// CheckoutTTL is how long a checkout holds its units (at least
	// MinCheckoutTTL, Stripe's minimum).
	CheckoutTTL time.Duration
	// CheckoutShipping is what the checkout asks for besides the payment.
	CheckoutShipping caisse.CheckoutShipping
	// CheckoutLimits bound one checkout: units, and where the customer may
	// be sent back.
	CheckoutLimits caisse.CheckoutLimits
	// ClientKey keys the digest of a checkout's client stored with its
	// order; every instance of one shop must have the same.
	ClientKey []byte
}

// New returns the jobs of store, with caisse's defaults.
func New(store *sqlstore.Store) *Jobs {
	return &Jobs{
		Store:          store,
		MaxAttempts:    10,
		CheckoutGrace:  5 * time.Minute,
		SweepEvery:     time.Minute,
		ChecksEvery:    10 * time.Minute,
		ForgetEvery:    time.Hour,
		CheckoutTTL:    MinCheckoutTTL,
		CheckoutLimits: caisse.CheckoutLimits{MaxUnits: 20},
	}
}

func (j *Jobs) now() time.Time { return j.Store.Now().UTC() }

func (j *Jobs) logger() *slog.Logger {
	if j.Logger != nil {
		return j.Logger
	}
	return j.Store.Logger
}

// RiverConfig is the queue configuration both databases use: River runs
// the periodic jobs (the sweep of expired checkouts, catching up, checks,
// forgetting old orders' customers)
// and the refunds caisse asks Stripe for. Events are not River jobs: the
// events table is their queue (see package inbox).
func (j *Jobs) RiverConfig() *river.Config {
	s := j.Store
	workers := river.NewWorkers()
	river.AddWorker(workers, &legacyProcessWorker{})
	river.AddWorker(workers, &refundWorker{jobs: j})
	river.AddWorker(workers, &mismatchRefundWorker{jobs: j})
	river.AddWorker(workers, &fraudRefundWorker{jobs: j})
	river.AddWorker(workers, &shipmentWorker{jobs: j})
	river.AddWorker(workers, &ownerRefundWorker{jobs: j})
	river.AddWorker(workers, &sweepWorker{jobs: j})
	river.AddWorker(workers, &reconcileWorker{jobs: j})
	river.AddWorker(workers, &checksWorker{jobs: j})
	river.AddWorker(workers, &forgetWorker{jobs: j})
	river.AddWorker(workers, &fetchBalanceWorker{jobs: j})
	river.AddWorker(workers, &listPayoutWorker{jobs: j})
	river.AddWorker(workers, &listRefundsWorker{jobs: j})
	river.AddWorker(workers, &booksCatchUpWorker{jobs: j})
	// Periodic jobs run on one instance at a time (River's leader).
	periodic := []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(max(j.SweepEvery, time.Second)),
		func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})}
	if j.ChecksEvery > 0 {
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(j.ChecksEvery),
			func() (river.JobArgs, *river.InsertOpts) { return ChecksArgs{}, nil }, nil))
	}
	if j.Stripe != nil && j.ReconcileEvery > 0 {
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(j.ReconcileEvery),
			func() (river.JobArgs, *river.InsertOpts) { return ReconcileArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}))
	}
	if j.Stripe != nil {
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(booksCatchUpEvery),
			func() (river.JobArgs, *river.InsertOpts) { return BooksCatchUpArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}))
	}
	if j.PersonalDataRetention > 0 && j.ForgetEvery > 0 {
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(j.ForgetEvery),
			func() (river.JobArgs, *river.InsertOpts) { return ForgetArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}))
	}
	return &river.Config{
		PeriodicJobs:      periodic,
		Logger:            slog.New(quiet{j.logger().Handler()}).With("component", "river"),
		MaxAttempts:       j.MaxAttempts,
		FetchPollInterval: s.PollInterval,
		// River's default cooldown, unless polling is set shorter (tests).
		FetchCooldown: min(s.PollInterval, 100*time.Millisecond),
		Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		// A job still running after half the rescue delay is stuck, and one
		// older than it was lost with its process.
		JobTimeout:           s.RescueAfter / 2,
		RescueStuckJobsAfter: s.RescueAfter,
		Workers:              workers,
	}
}

// legacyProcessWorker completes the "process_event" jobs that caisse
// versions which made each event a job left behind: their events are
// pending in the events table, and the applier takes them from there.
type legacyProcessWorker struct {
	river.WorkerDefaults[legacyProcessEventArgs]
}

type legacyProcessEventArgs struct {
	EventID string `json:"event_id"`
}

func (legacyProcessEventArgs) Kind() string { return "process_event" }

func (*legacyProcessWorker) Work(context.Context, *river.Job[legacyProcessEventArgs]) error {
	return nil
}

// quiet passes on the queue's warnings and errors only: its routine
// information would drown the one line per event that caisse logs.
type quiet struct{ slog.Handler }

func (q quiet) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && q.Handler.Enabled(ctx, l)
}

func (q quiet) WithAttrs(attrs []slog.Attr) slog.Handler { return quiet{q.Handler.WithAttrs(attrs)} }

func (q quiet) WithGroup(name string) slog.Handler { return quiet{q.Handler.WithGroup(name)} }

package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/database"
	caissehttp "github.com/caisse/caisse/http"
	"github.com/caisse/caisse/inbox"
	"github.com/caisse/caisse/outbox"
	"github.com/caisse/caisse/payments"
	"github.com/caisse/caisse/stripe"
)

// Program is a running caisse: store, applier, workers and HTTP server, built
// explicitly from a Config.
type Program struct {
	Config Config
	Logger *slog.Logger
	// Now returns the current time (time.Now unless a test sets it).
	Now func() time.Time
	// Retry overrides the backoff between an event's attempts.
	Retry func(attempts int) time.Duration
	// PollInterval overrides how often an idle instance looks for events
	// (and River for jobs) that another process stored.
	PollInterval time.Duration
	// Observe, if set, sees every processing attempt (tests wait on it).
	Observe func(inbox.Report)
	// ObserveDelivery, if set, sees every delivery attempt (tests wait on it).
	ObserveDelivery func(d caisse.Delivery, status caisse.DeliveryStatus, err error)
	// Backoff overrides the waits between delivery attempts.
	Backoff []time.Duration
	// ForgetEvery, when set, overrides how often orders past
	// CAISSE_PERSONAL_DATA_RETENTION are looked for (hourly).
	ForgetEvery time.Duration
	// NoticeDelay, when set, overrides how long alerts and customer emails
	// wait before they go out (alertDelay, emailDelay).
	NoticeDelay time.Duration

	DB       *Store
	HTTP     *caissehttp.Server
	Metrics  *caissehttp.Metrics
	Outbox   *outbox.Dispatcher
	channels *channels

	served chan error
}

// Open opens and migrates the database, starts the applier and workers and starts
// answering HTTP on Config.Addr.
func (p *Program) Open(ctx context.Context) error {
	if len(p.Config.WebhookSecrets) == 0 {
		return caisse.Errorf(caisse.EINVALID, "STRIPE_WEBHOOK_SECRET is not set: copy the signing secret (whsec_…) of your webhook endpoint from Stripe's dashboard, or from `stripe listen`")
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	ch, err := openChannels(p.Config)
	if err != nil {
		return err
	}
	p.channels = ch
	db, err := openDB(ctx, p.Config, p.Logger)
	if err != nil {
		return err
	}
	p.DB = db
	core := db.Store
	if p.NoticeDelay > 0 {
		ch.recipients.AlertDelay, ch.recipients.EmailDelay = p.NoticeDelay, p.NoticeDelay
	}
	core.Outbox = ch.recipients
	db.Payments().AlertSilence = p.Config.AlertSilence
	if p.ForgetEvery > 0 {
		db.Payments().ForgetEvery = p.ForgetEvery
	}
	db.Payments().WebhookPaths = caissehttp.WebhookPaths
	core.Now = p.Now
	core.Rules.Now = p.Now
	db.Inbox().Backoff = p.Retry
	if p.PollInterval > 0 {
		core.PollInterval = p.PollInterval
	}
	p.Metrics = caissehttp.NewMetrics(db.EventBacklog)
	p.Metrics.CountStatements(core.Statements.Load)
	db.Inbox().Processed = func(r inbox.Report) {
		p.Metrics.EventProcessed(r.Event.Type, r.Status, r.Duration)
		if p.Observe != nil {
			p.Observe(r)
		}
	}
	if err := db.Open(ctx); err != nil {
		return err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return err
	}
	if ch.email != nil {
		// Each email's Message-ID carries the database's own id, so no
		// other caisse writes the same one.
		id, err := core.DatabaseID(ctx)
		if err != nil {
			db.Close()
			return err
		}
		ch.email.SetDatabaseID(id)
	}
	p.HTTP = &caissehttp.Server{
		Events: db, Orders: db, Products: db, Checkouts: db.Payments(), Refunds: db.Payments(), Deliveries: db, Outbox: core, CORSOrigins: p.Config.CORSOrigins,
		CheckoutRate: p.Config.CheckoutRate, TrustedProxies: p.Config.TrustedProxies, Now: p.Now,
		Verifier:     &stripe.Verifier{Secrets: p.Config.WebhookSecrets, Tolerance: p.Config.Tolerance, Now: p.Now},
		Livemode:     p.Config.Livemode,
		AdminToken:   p.Config.AdminToken,
		Dashboard:    db,
		Books:        db,
		StripeKey:    p.Config.SecretKey != "",
		BooksLive:    p.Config.BooksLive(),
		TimeZone:     p.Config.TimeZone,
		Accounts:     p.Config.Accounts,
		Facts:        db,
		Sessions:     db,
		Customers:    db,
		Jobs:         lazyJobsUI(db, p.Logger),
		PublicURL:    p.Config.PublicURL,
		Locale:       p.Config.Locale,
		Ready:        db.Ready,
		Metrics:      p.Metrics,
		Logger:       p.Logger,
		ImportMax:    p.Config.ImportMax,
		MetricsToken: p.Config.MetricsToken,
	}
	p.HTTP.CheckoutKey = p.Config.CheckoutKey
	if err := p.HTTP.Listen(p.Config.Addr); err != nil {
		db.Close()
		return fmt.Errorf("CAISSE_ADDR: cannot listen on %s: %w", p.Config.Addr, err)
	}
	// The applier and River's workers outlive ctx, which ends at SIGTERM:
	// Close stops them gracefully, committing the batch under way and
	// letting running jobs finish, where a cancelled context would cancel
	// them at once.
	if err := db.Start(context.WithoutCancel(ctx)); err != nil {
		db.Close()
		return err
	}
	p.Outbox = &outbox.Dispatcher{
		Store: core, Sender: ch.sender, ShopName: p.Config.ShopName, Logger: p.Logger, Now: p.Now,
		Lease: p.Config.RescueAfter, Backoff: p.Backoff, PerChannel: 4, Retention: p.Config.OutboxRetention,
		AddressWait: p.Config.AddressWait,
		Observe: func(d caisse.Delivery, status caisse.DeliveryStatus, err error) {
			p.Metrics.DeliveryAttempt(d.Channel, status)
			if p.ObserveDelivery != nil {
				p.ObserveDelivery(d, status, err)
			}
		},
	}
	if stripeAPI := db.Payments().Stripe; stripeAPI != nil {
		p.Outbox.CustomerEmail = stripeAPI.CustomerEmail
	}
	p.Outbox.Start(ctx)
	p.served = make(chan error, 1)
	go func() { p.served <- p.HTTP.Serve() }()
	p.Logger.Info("caisse is listening", "addr", p.HTTP.Addr(), "database", redactURL(p.Config.DatabaseURL),
		"secrets", len(p.Config.WebhookSecrets), "admin", p.Config.AdminToken != "", "checkout", db.Payments().Stripe != nil,
		"oversold_policy", map[bool]string{false: "flag", true: "refund"}[p.Config.RefundOversold],
		"mismatch_policy", map[bool]string{false: "flag", true: "refund"}[p.Config.RefundMismatch],
		"fraud_policy", map[bool]string{false: "flag", true: "refund"}[p.Config.RefundFraud], "version", Version)
	if db.Payments().Stripe != nil {
		db.Payments().LogWebhookEndpoint(ctx)
	}
	return nil
}

// Close shuts down gracefully: stop accepting and finish in-flight requests,
// commit the batch of events under way, let running jobs finish (or hand
// them back after the timeout), then close the database.
func (p *Program) Close() error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var errs []error
	if p.HTTP != nil {
		errs = append(errs, p.HTTP.Shutdown(ctx))
		if p.served != nil {
			errs = append(errs, <-p.served)
		}
		p.Logger.Info("stopped accepting; in-flight requests finished", "after_ms", time.Since(start).Milliseconds())
	}
	if p.Outbox != nil {
		// Sends in flight finish (or, after the timeout, are sent again by
		// another instance once their lease ends).
		p.Outbox.Stop(ctx)
	}
	if p.DB != nil {
		errs = append(errs, p.DB.Stop(ctx))
		p.Logger.Info("applier and workers stopped; pending events and unfinished jobs are left to other instances", "after_ms", time.Since(start).Milliseconds())
		errs = append(errs, p.DB.Close())
	}
	return errors.Join(errs...)
}

func (m *Main) serve(ctx context.Context, args []string) error {
	c := m.command("serve")
	fs := flag.NewFlagSet("caisse serve", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {}
	c.fs = fs
	cfg, _, err := LoadConfig(m.Getenv, fs, args)
	if errors.Is(err, flag.ErrHelp) {
		c.printHelp(m.Stdout, "serve")
		return errHelp
	} else if errors.As(err, new(flagParseError)) {
		fmt.Fprintln(m.Stderr)
		c.printHelp(m.Stderr, "serve")
		return errUsage
	} else if err != nil {
		return err
	}
	p := &Program{Config: cfg, Logger: m.logger()}
	if err := p.Open(ctx); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		p.Logger.Info("shutting down")
	case err := <-p.served:
		p.served <- err
		p.Logger.Error("the HTTP server stopped", "error", err)
	}
	return p.Close()
}

func (m *Main) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(m.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// Store is the database caisse runs on (SQLite or PostgreSQL), with the
// jobs it runs through Stripe's API.
type Store struct {
	*database.DB
	jobs *payments.Jobs
}

// Reconcile catches up on events Stripe never delivered.
func (s *Store) Reconcile(ctx context.Context) (payments.ReconcileReport, error) {
	return s.jobs.Reconcile(ctx)
}

// Payments are the jobs run through Stripe's API and River, for their
// settings.
func (s *Store) Payments() *payments.Jobs { return s.jobs }

// openDB prepares (but does not open) the store named by the configuration.
func openDB(_ context.Context, cfg Config, logger *slog.Logger) (*Store, error) {
	db, err := database.New(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	jobs := payments.New(db.Store)
	db.River = jobs.RiverConfig
	jobs.Inbox = db
	db.Logger = logger
	db.In.Decode = stripe.Facts
	db.Rules = caisse.Rules{RestockOnRefund: cfg.RestockOnRefund, RefundOversold: cfg.RefundOversold,
		RefundMismatch: cfg.RefundMismatch, RefundFraud: cfg.RefundFraud, ShipmentsToStripe: cfg.SecretKey != "", Now: time.Now}
	jobs.CheckoutLimits = caisse.CheckoutLimits{MaxUnits: cfg.CheckoutMaxUnits, Origins: cfg.CORSOrigins}
	if cfg.SecretKey != "" {
		jobs.Stripe = stripe.NewClient(cfg.SecretKey, cfg.APIURL, nil)
	}
	// Every instance of a shop has the same Stripe key: the digests of
	// checkouts' clients it keys agree across instances, and the database
	// alone does not reveal them.
	clientKey := sha256.Sum256([]byte("caisse checkout client\x00" + cfg.SecretKey))
	jobs.ClientKey = clientKey[:]
	if cfg.CheckoutTTL > 0 {
		jobs.CheckoutTTL = cfg.CheckoutTTL
	}
	jobs.CheckoutShipping = cfg.CheckoutShipping
	jobs.ReconcileEvery = cfg.ReconcileEvery
	jobs.PersonalDataRetention = cfg.PersonalDataRetention
	db.In.MaxAttempts = cfg.MaxAttempts
	jobs.MaxAttempts = cfg.MaxAttempts
	db.SetWorkers(cfg.Workers)
	db.RescueAfter = cfg.RescueAfter
	db.Retention = cfg.Retention
	return &Store{DB: db, jobs: jobs}, nil
}

// redactURL returns a database URL fit to show: a sqlite: path as it is
// (SQLite has no password), a PostgreSQL URL with its password removed in
// whatever form it takes.
func redactURL(u string) string { return database.Redact(u) }

// lazyJobsUI serves River's UI at /admin/jobs/, started at its first
// request: once started it counts the jobs every few seconds, which an
// instance nobody looks at should not pay for (on SQLite, with the one
// writer webhooks need).
func lazyJobsUI(db *Store, logger *slog.Logger) http.Handler {
	var once sync.Once
	var h http.Handler
	var err error
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { h, err = db.JobsUI(logger, "/admin/jobs") })
		if err != nil {
			logger.Error("River's jobs UI could not start", "error", err.Error())
			http.Error(w, "The jobs page could not start; caisse's log says why.", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Package database opens caisse's database from CAISSE_DATABASE_URL: an
// embedded SQLite file (sqlite:PATH, the default) or PostgreSQL
// (postgres://…). It is the one place that tells the two apart; every
// caller — caisse serve, the commands, the bench and the tests — opens a
// DB the same way, and gets the same type.
//
// A DB is the shared store (package sqlstore) on the database's engine
// (package sqlite or postgres: connections, dialect, locks, migrations),
// with the inbox that stores and applies its events and River's job queue.
// It must not hold SQL (sqlstore does) nor decide anything about orders or
// payments (the root package and payments do).
package database

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/inbox"
	"github.com/caisse/caisse/internal/queue"
	"github.com/caisse/caisse/internal/sqlstore"
	"github.com/caisse/caisse/postgres"
	"github.com/caisse/caisse/sqlite"
)

// Kind is a kind of database caisse runs on.
type Kind string

// The kinds of database.
const (
	SQLite     Kind = "sqlite"
	PostgreSQL Kind = "postgres"
)

// URL is a CAISSE_DATABASE_URL, read.
type URL struct {
	Kind Kind
	// Path is the file of a SQLite database.
	Path string
	raw  string
}

// ParseURL reads a CAISSE_DATABASE_URL: sqlite:PATH or postgres://… (or
// postgresql://…). Its error says how to write one. A sqlite: URL without
// a path reads, with an empty Path, and fails to open.
func ParseURL(raw string) (URL, error) {
	switch {
	case strings.HasPrefix(raw, "sqlite:"):
		// sqlite:///var/lib/caisse.db is the file /var/lib/caisse.db too.
		return URL{Kind: SQLite, Path: strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite:"), "//"), raw: raw}, nil
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		return URL{Kind: PostgreSQL, raw: raw}, nil
	}
	return URL{}, caisse.WithFix(errors.New("CAISSE_DATABASE_URL must start with sqlite: or postgres://"),
		"write it as sqlite:PATH (such as sqlite:caisse.db) or postgres://user:password@host:5432/database")
}

// String is the URL as it was written, password included: pass it to
// nothing that shows it.
func (u URL) String() string { return u.raw }

// Redacted is the URL fit to show in a log line, an error or a page: a
// sqlite: path as it is (SQLite has no password), a PostgreSQL URL with its
// password removed in whatever form it takes.
func (u URL) Redacted() string {
	if u.Kind == SQLite {
		return u.raw
	}
	return postgres.RedactURL(u.raw)
}

// Redact returns a CAISSE_DATABASE_URL fit to show, as URL.Redacted does;
// one that does not read is shown without anything that could be a
// password.
func Redact(raw string) string {
	u, err := ParseURL(raw)
	if err != nil {
		return postgres.RedactURL(raw)
	}
	return u.Redacted()
}

// Engine is what a database package supplies: connections, dialect, locks
// and migrations. Its constructor makes it the store's Driver.
type Engine interface {
	// Open connects, with room for writers of caisse's at once, and makes
	// River's client with config. It does not migrate.
	Open(ctx context.Context, config *river.Config, writers int) (queue.Jobs, error)
	// Migrate brings River's tables, then caisse's, up to date.
	Migrate(ctx context.Context) error
	// Migrations are caisse's migrations on this database.
	Migrations() (*goose.Provider, error)
	// Ping reports an error when the database cannot be used at all.
	Ping(ctx context.Context) error
	// OneWriter reports whether the database takes one writer at a time.
	OneWriter() bool
	Close() error
}

// DB is caisse's database: the store, its inbox and its job queue.
type DB struct {
	*sqlstore.Store
	// In stores and applies the database's events.
	In *inbox.Inbox
	// River makes River's configuration when Open sets up the queue: the
	// workers and periodic jobs caisse runs (package payments makes it).
	// Without it the queue only inserts jobs, and Start fails.
	River func() *river.Config
	// URL is the database's CAISSE_DATABASE_URL.
	URL URL

	engine Engine
	jobs   queue.Jobs
}

// New returns the database at a CAISSE_DATABASE_URL, with caisse's
// defaults, not yet open: set its fields, then call Open.
func New(rawURL string) (*DB, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	s := sqlstore.NewStore()
	db := &DB{Store: s, In: inbox.New(s), URL: u}
	switch u.Kind {
	case SQLite:
		db.engine = sqlite.New(s, u.Path)
	case PostgreSQL:
		db.engine = postgres.New(s, u.raw)
	}
	if db.engine.OneWriter() {
		// One connection writes: one applier, whose batches make way for
		// the events waiting to be stored.
		db.In.Appliers = 1
		db.In.YieldToIngest = true
	} else {
		// Several ingest statements at once, each still grouping the
		// events that wait, and two appliers, so that one applies in
		// memory while the database serves the other.
		db.In.Committers = 2
		db.In.Appliers = 2
	}
	return db, nil
}

// SetWorkers sets how many batches of events the instance applies at once
// (CAISSE_WORKERS), where the database takes concurrent writers; a SQLite
// database keeps its one.
func (db *DB) SetWorkers(n int) {
	if n > 0 && !db.engine.OneWriter() {
		db.In.Appliers = n
	}
}

// Inbox is the database's ingest and applier, for their settings.
func (db *DB) Inbox() *inbox.Inbox { return db.In }

// Open connects to the database (creating a SQLite file if needed) and
// sets up the job queue. It does not migrate.
func (db *DB) Open(ctx context.Context) error {
	var config *river.Config
	if db.River != nil {
		config = db.River()
	}
	jobs, err := db.engine.Open(ctx, config, max(db.In.Appliers, 1)+max(db.In.Committers, 1))
	if err != nil {
		return err
	}
	db.jobs = jobs
	return nil
}

// Migrate brings the schema up to date: River's tables, then caisse's.
// Several instances may call it at once; they take turns.
func (db *DB) Migrate(ctx context.Context) error { return db.engine.Migrate(ctx) }

// Ready reports why the database cannot serve, if it cannot:
// caisse.ErrUnreachable, caisse.ErrDatabaseReplaced,
// caisse.ErrMigrationsPending or caisse.ErrNoWrites.
func (db *DB) Ready(ctx context.Context) error {
	if err := db.engine.Ping(ctx); err != nil {
		return err
	}
	p, err := db.engine.Migrations()
	if err != nil {
		return err
	}
	return db.CheckReady(ctx, p)
}

// ReceiveEvent stores a verified event, pending, for the applier.
func (db *DB) ReceiveEvent(ctx context.Context, e *caisse.Event) (bool, error) {
	return db.In.ReceiveEvent(ctx, e)
}

// Start starts the jobs, then applying stored events.
func (db *DB) Start(ctx context.Context) error {
	if db.jobs == nil {
		return errors.New("the database is not open: call Open first")
	}
	if err := db.jobs.Start(ctx); err != nil {
		return err
	}
	db.In.StartApplier()
	return nil
}

// Stop stops storing events once those queued are stored, and applying
// once the batches under way are committed; then it lets running jobs
// finish (or, once ctx ends, cancels them; River hands them back for a
// later attempt) and stops them.
func (db *DB) Stop(ctx context.Context) error {
	db.In.Stop()
	if db.jobs == nil {
		return nil
	}
	return db.jobs.Stop(ctx)
}

// JobsUI returns River's web UI for this database's jobs, to be mounted at
// prefix (such as "/admin/jobs") of the caller's mux with
// mux.Handle(prefix+"/", h): the handler strips prefix itself. It runs
// until Close, counting jobs by state in the background every few seconds
// meanwhile. Call it after Open.
func (db *DB) JobsUI(logger *slog.Logger, prefix string) (http.Handler, error) {
	if db.jobs == nil {
		return nil, fmt.Errorf("the jobs UI needs the database's job queue: open the database first")
	}
	return db.jobs.JobsUI(logger, prefix)
}

// CountJobs counts the jobs of these kinds in these states (up to 10,000),
// such as the books' lookups still to run. Call it after Open.
func (db *DB) CountJobs(ctx context.Context, kinds []string, states ...rivertype.JobState) (int, error) {
	if db.jobs == nil {
		return 0, fmt.Errorf("counting jobs needs the database's job queue: open the database first")
	}
	return db.jobs.Count(ctx, kinds, states)
}

// Close commits the events being stored, stops River's web UI and closes
// the connections.
func (db *DB) Close() error {
	db.In.StopIngest()
	if db.jobs != nil {
		db.jobs.End()
	}
	return db.engine.Close()
}

// Package sqlite stores caisse in an embedded SQLite database (the default),
// with River as its job queue. One connection writes, in WAL mode with full
// fsync, so a committed event survives a crash; a pool of read-only
// connections serves the admin API and metrics without waiting on writes.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/caisse/caisse"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is caisse's SQLite store and queue.
type DB struct {
	// Path is the database file.
	Path string
	// Rules turn facts into orders and stock.
	Rules caisse.Rules
	// Decode reads an event's facts; the stripe package provides it.
	Decode func(*caisse.Event) (caisse.EventFacts, error)
	// Logger receives one line per processed event and per failure.
	Logger *slog.Logger
	// MaxAttempts is how many times an event is tried before it becomes a dead letter.
	MaxAttempts int
	// Retry decides how long to wait before the next attempt (nil: River's default backoff).
	Retry river.ClientRetryPolicy
	// PollInterval is how often idle workers look for jobs another process inserted.
	PollInterval time.Duration
	// Workers is how many events are processed at once.
	Workers int
	// Processed is called after each processing attempt, for metrics.
	Processed func(ProcessReport)
	// Now returns the current time.
	Now func() time.Time

	write *sql.DB
	read  *sql.DB
	river *river.Client[*sql.Tx]
}

// ProcessReport describes one processing attempt of an event.
type ProcessReport struct {
	Event    *caisse.Event
	Status   caisse.EventStatus // the event's status after the attempt
	Err      error
	Duration time.Duration
	Outcome  caisse.Outcome
}

// NewDB returns a store for the database file at path. Call Open next.
func NewDB(path string) *DB {
	return &DB{
		Path:         path,
		Rules:        caisse.Rules{RestockOnRefund: true, Now: time.Now},
		Logger:       slog.Default(),
		MaxAttempts:  10,
		PollInterval: time.Second,
		Workers:      4,
		Now:          time.Now,
	}
}

var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

func dsn(path string, extra ...string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_time_format", "sqlite")
	for _, e := range extra {
		k, v, _ := strings.Cut(e, "=")
		q.Add(k, v)
	}
	// The path is a URI path: escape what would end it early, so a file in a
	// folder named "a#b" or "a?b" is that file and not another.
	return "file:" + uriPath.Replace(path) + "?" + q.Encode()
}

// Open opens the database (creating the file if needed). It does not migrate.
func (db *DB) Open(ctx context.Context) (err error) {
	if db.Path == "" {
		return caisse.Errorf(caisse.EINVALID, "the SQLite database path is empty: set CAISSE_DATABASE_URL=sqlite:PATH")
	}
	// WAL lets readers go on while the single writer commits; synchronous=FULL
	// fsyncs the WAL at every commit, so an acknowledged event survives a power
	// loss, not only a crash. _txlock=immediate takes the write lock at BEGIN,
	// so a transaction never fails half-way on a lock upgrade.
	db.write, err = sql.Open("sqlite", dsn(db.Path,
		"_pragma=journal_mode(WAL)", "_pragma=synchronous(FULL)", "_txlock=immediate"))
	if err != nil {
		return fmt.Errorf("error opening %s: %w", db.Path, err)
	}
	// One writer: SQLite has one write lock anyway, and River's SQLite driver
	// expects every write of this process to go through one connection.
	db.write.SetMaxOpenConns(1)
	db.write.SetConnMaxIdleTime(0)
	if err := db.write.PingContext(ctx); err != nil {
		db.write.Close()
		return fmt.Errorf("error opening %s: %w", db.Path, err)
	}
	db.read, err = sql.Open("sqlite", dsn(db.Path, "_pragma=query_only(1)"))
	if err != nil {
		db.write.Close()
		return fmt.Errorf("error opening %s for reading: %w", db.Path, err)
	}
	db.read.SetMaxOpenConns(4)

	workers := river.NewWorkers()
	river.AddWorker(workers, &processWorker{db: db})
	db.river, err = river.NewClient(riversqlite.New(db.write), &river.Config{
		Logger:            slog.New(quiet{db.Logger.Handler()}).With("component", "river"),
		MaxAttempts:       db.MaxAttempts,
		RetryPolicy:       db.Retry,
		FetchPollInterval: db.PollInterval,
		FetchCooldown:     min(db.PollInterval, 100*time.Millisecond),
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: max(db.Workers, 1)}},
		Workers:           workers,
	})
	if err != nil {
		db.write.Close()
		db.read.Close()
		return fmt.Errorf("error setting up the job queue: %w", err)
	}
	return nil
}

// Migrate brings the schema up to date: River's tables, then caisse's.
func (db *DB) Migrate(ctx context.Context) error {
	migrator, err := rivermigrate.New(riversqlite.New(db.write), nil)
	if err != nil {
		return fmt.Errorf("error preparing job queue migrations: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("error migrating the job queue tables: %w", err)
	}
	p, err := db.goose()
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("error migrating caisse's tables: %w", err)
	}
	return nil
}

func (db *DB) goose() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db.write, sub)
	if err != nil {
		return nil, fmt.Errorf("error preparing migrations: %w", err)
	}
	return p, nil
}

// Ready reports an error when the database cannot be reached or has
// migrations left to apply.
func (db *DB) Ready(ctx context.Context) error {
	p, err := db.goose()
	if err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	if pending {
		return errors.New("migrations are pending: run caisse migrate")
	}
	return nil
}

// Start starts the workers that process stored events.
func (db *DB) Start(ctx context.Context) error {
	if err := db.river.Start(ctx); err != nil {
		return fmt.Errorf("error starting the workers: %w", err)
	}
	return nil
}

// Stop lets running jobs finish (or hands them back when ctx ends) and stops
// the workers.
func (db *DB) Stop(ctx context.Context) error {
	err := db.river.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return db.river.StopAndCancel(context.Background())
	}
	return err
}

// Close closes the database.
func (db *DB) Close() error {
	var errs []error
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	return errors.Join(errs...)
}

// Subscribe returns River's job events, for tests that wait on work.
func (db *DB) Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func()) {
	return db.river.Subscribe(kinds...)
}

func (db *DB) now() time.Time { return db.Now().UTC() }

func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// placeholders returns "?,?,?" for n arguments.
func placeholders(n int) string {
	if n == 0 {
		return "NULL"
	}
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// quiet passes on the queue's warnings and errors only: its routine
// information would drown the one line per event that caisse logs.
type quiet struct{ slog.Handler }

func (q quiet) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && q.Handler.Enabled(ctx, l)
}

func (q quiet) WithAttrs(attrs []slog.Attr) slog.Handler { return quiet{q.Handler.WithAttrs(attrs)} }

func (q quiet) WithGroup(name string) slog.Handler { return quiet{q.Handler.WithGroup(name)} }

// Package sqlite stores caisse in an embedded SQLite database (the default),
// with River as its job queue. One connection writes, in WAL mode with full
// fsync, so a committed event survives a crash; a pool of read-only
// connections serves the admin API and metrics without waiting on writes.
//
// It must not repeat a query the postgres package also runs: shared SQL lives in
// internal/sqlstore.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"modernc.org/sqlite"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/inbox"
	"github.com/caisse/caisse/internal/jobsui"
	"github.com/caisse/caisse/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is caisse's SQLite store and queue.
type DB struct {
	*sqlstore.Store
	inbox.Runner
	// River makes River's configuration when Open sets up the queue: the
	// workers and periodic jobs caisse runs (package payments makes it).
	// Without it the queue only inserts jobs, and Start fails.
	River func() *river.Config
	// Path is the database file.
	Path string

	write *sql.DB
	read  *sql.DB
	river *river.Client[*sql.Tx]
	queue sqlstore.Queue[*sql.Tx]
	// jobsUI ends the background work of River's web UI when the
	// database closes.
	jobsUI jobsui.Lifetime

	// file is the database file as opened; gone is set once the file at
	// Path is no longer it.
	file os.FileInfo
	gone atomic.Bool
}

// NewDB returns a store for the database file at path. Call Open next.
func NewDB(path string) *DB {
	db := &DB{Store: sqlstore.NewStore(), Path: path}
	db.Driver = driver{db}
	db.Runner = inbox.Runner{In: inbox.New(db.Store), Jobs: &db.queue}
	// One connection writes: one applier, whose batches make way for the
	// events waiting to be stored.
	db.In.Appliers = 1
	db.In.YieldToIngest = true
	return db
}

// uriPath escapes what would end a URI path early, so a file in a folder
// named "a#b" or "a?b" is that file and not another.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// DSN returns the connection string for the database file at path, with
// extra parameters such as "_pragma=query_only(1)".
func DSN(path string, extra ...string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	for _, e := range extra {
		k, v, _ := strings.Cut(e, "=")
		q.Add(k, v)
	}
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
	// so a transaction never fails half-way on a lock upgrade. A 32 MiB page
	// cache (SQLite's default is 2 MiB) holds the indexes' upper levels once
	// the tables are large: with a million stored events, the default cache
	// cost a fifth of the rate (caisse-bench --stored 1000000).
	db.write = sql.OpenDB(connector{driver: &sqlite.Driver{}, dsn: DSN(db.Path,
		"_pragma=journal_mode(WAL)", "_pragma=synchronous(FULL)", "_pragma=cache_size(-32768)", "_txlock=immediate")})
	// One writer: SQLite has one write lock anyway, and River's SQLite driver
	// expects every write of this process to go through one connection.
	db.write.SetMaxOpenConns(1)
	db.write.SetConnMaxIdleTime(0)
	if err := db.write.PingContext(ctx); err != nil {
		db.write.Close()
		return fmt.Errorf("error opening %s: %w", db.Path, err)
	}
	if db.file, err = os.Stat(db.Path); err != nil {
		db.write.Close()
		return fmt.Errorf("error opening %s: %w", db.Path, err)
	}
	db.read = sql.OpenDB(connector{driver: &sqlite.Driver{}, dsn: DSN(db.Path, "_pragma=query_only(1)")})
	db.read.SetMaxOpenConns(4)
	db.river, err = river.NewClient(riversqlite.New(db.write), db.riverConfig())
	if err != nil {
		db.Close()
		return fmt.Errorf("error setting up the job queue: %w", err)
	}
	db.queue.Client = db.river
	return nil
}

// Migrate brings the schema up to date: River's tables, then caisse's.
func (db *DB) Migrate(ctx context.Context) error {
	p, err := db.goose()
	if err != nil {
		return err
	}
	return sqlstore.Migrate(ctx, riversqlite.New(db.write), p)
}

func (db *DB) goose() (*goose.Provider, error) {
	return sqlstore.Goose(goose.DialectSQLite3, db.write, migrations)
}

// Ready reports an error when the database cannot be reached or has
// migrations left to apply.
func (db *DB) Ready(ctx context.Context) error {
	p, err := db.goose()
	if err != nil {
		return err
	}
	return db.CheckReady(ctx, p)
}

// Close closes the database.
func (db *DB) Close() error {
	// Events being stored (by a command that caught up, say) are committed first.
	db.In.StopIngest()
	// River's web UI stops counting jobs before the connections close.
	db.jobsUI.End()
	var errs []error
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	return errors.Join(errs...)
}

// JobsUI returns River's web UI for this database's jobs, to be mounted at
// prefix (such as "/admin/jobs") of the caller's mux with
// mux.Handle(prefix+"/", h): the handler strips prefix itself. It runs
// until Close, counting jobs by state in the background every few seconds
// meanwhile. Call it after Open. Its queries and actions go through River's
// driver, on the one write connection: each takes the write lock for as
// long as it runs, like any other write.
func (db *DB) JobsUI(logger *slog.Logger, prefix string) (http.Handler, error) {
	return jobsui.New(&db.jobsUI, db.river, logger, prefix)
}

// checkFile reports an error when the file at Path is no longer the one
// caisse opened: deleted (rm caisse.db*), or replaced by another file. SQLite
// would go on writing to the open, unlinked file, acknowledging events that
// vanish when caisse stops; so every write transaction checks first. A stat
// costs little next to the fsync of a commit.
func (db *DB) checkFile() error {
	fi, err := os.Stat(db.Path)
	if err == nil && os.SameFile(fi, db.file) {
		return nil
	}
	if !db.gone.Swap(true) {
		db.Logger.Error("the SQLite database file was deleted or replaced while caisse was running: caisse now refuses events (503, Stripe retries them) "+
			"and reports not ready, since what it stored would be lost; restart caisse to open the file at this path again "+
			"(restore it from a backup first if you have one; otherwise caisse starts a new, empty database there)",
			"path", db.Path)
	}
	return fmt.Errorf("the SQLite database file %s was deleted or replaced while caisse was running: restart caisse", db.Path)
}

// driver gives the shared store SQLite's connections and River's SQLite driver.
type driver struct{ db *DB }

func (d driver) Begin(ctx context.Context) (sqlstore.Tx, error) {
	if err := d.db.checkFile(); err != nil {
		return nil, err
	}
	d.db.Statements.Add(1)
	tx, err := d.db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &sqliteTx{querier: querier{tx, &d.db.Statements}, tx: tx, river: d.db.river}, nil
}

func (d driver) Reader() sqlstore.Querier { return querier{d.db.read, &d.db.Statements} }

// Writer runs each statement on the write connection, in a transaction of
// its own, once the file is known to be the one caisse opened.
func (d driver) Writer(context.Context) (sqlstore.Querier, error) {
	if err := d.db.checkFile(); err != nil {
		return nil, err
	}
	return querier{d.db.write, &d.db.Statements}, nil
}

// Retryable is false: with one writer holding the write lock from BEGIN,
// SQLite has no deadlocks or serialization failures to retry.
func (d driver) Retryable(error) bool { return false }

// WritableCTE is false: SQLite's WITH clauses only read.
func (d driver) WritableCTE() bool { return false }

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// querier runs the shared store's queries on database/sql; SQLite takes its
// ? placeholders as they are.
type querier struct {
	e execer
	n *atomic.Int64 // statements run, for the metrics
}

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	q.n.Add(1)
	res, err := q.e.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	q.n.Add(1)
	rows, err := q.e.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	q.n.Add(1)
	return q.e.QueryRowContext(ctx, query, args...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

type sqliteTx struct {
	querier
	tx    *sql.Tx
	river *river.Client[*sql.Tx]
}

func (t *sqliteTx) Commit(context.Context) error   { t.n.Add(1); return t.tx.Commit() }
func (t *sqliteTx) Rollback(context.Context) error { return t.tx.Rollback() }

// ForUpdate is empty: the transaction holds SQLite's only write lock.
func (t *sqliteTx) ForUpdate() string { return "" }

// SkipLocked is empty: the transaction holds SQLite's only write lock, so no
// other transaction holds a row it reads.
func (t *sqliteTx) SkipLocked() string { return "" }

// Lock does nothing: the transaction began IMMEDIATE and holds SQLite's only
// write lock, so no other writer runs until it ends.
func (t *sqliteTx) Lock(context.Context, ...string) error { return nil }

func (t *sqliteTx) Insert(ctx context.Context, jobs []river.InsertManyParams) error {
	// InsertManyFastTx, not Insert: the jobs must commit with the rest of
	// the transaction (on SQLite, the single write connection is held by it).
	_, err := t.river.InsertManyFastTx(ctx, t.tx, jobs)
	return err
}

// riverConfig is River's configuration: River's own, or one that only
// inserts jobs.
func (db *DB) riverConfig() *river.Config {
	if db.River != nil {
		return db.River()
	}
	return &river.Config{Logger: slog.New(slog.DiscardHandler)}
}

// Package sqlite runs caisse on an embedded SQLite database (the default),
// with River as its job queue. One connection writes, in WAL mode with full
// fsync, so a committed event survives a crash; a pool of read-only
// connections serves the admin API and metrics without waiting on writes.
//
// It holds only what SQLite does differently: its connections, its
// migrations, its (absent) locks and River's SQLite driver. It must not
// repeat a query the postgres package also runs (shared SQL lives in
// internal/sqlstore), nor be opened other than through package database.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"modernc.org/sqlite"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/queue"
	"github.com/caisse/caisse/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Engine is a SQLite database file, as the store and River's client use it.
type Engine struct {
	store *sqlstore.Store
	// path is the database file.
	path string

	write *sql.DB
	read  *sql.DB
	jobs  *queue.Queue[*sql.Tx]

	// file is the database file as opened; gone is set once the file at
	// path is no longer it.
	file os.FileInfo
	gone atomic.Bool
}

// New returns the database file at path as s's: s runs its queries on it
// once Open has opened it.
func New(s *sqlstore.Store, path string) *Engine {
	e := &Engine{store: s, path: path}
	s.Driver = driver{e}
	return e
}

// OneWriter is true: SQLite takes one writer at a time.
func (e *Engine) OneWriter() bool { return true }

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

// Open opens the database (creating the file if needed) and River's client
// on it with config. It does not migrate. One connection writes, whatever
// the writers caisse runs.
func (e *Engine) Open(ctx context.Context, config *river.Config, _ int) (_ queue.Jobs, err error) {
	if e.path == "" {
		return nil, caisse.Errorf(caisse.EINVALID, "the SQLite database path is empty: set CAISSE_DATABASE_URL=sqlite:PATH")
	}
	// WAL lets readers go on while the single writer commits; synchronous=FULL
	// fsyncs the WAL at every commit, so an acknowledged event survives a power
	// loss, not only a crash. _txlock=immediate takes the write lock at BEGIN,
	// so a transaction never fails half-way on a lock upgrade. A 32 MiB page
	// cache (SQLite's default is 2 MiB) holds the indexes' upper levels once
	// the tables are large: with a million stored events, the default cache
	// cost a fifth of the rate (caisse-bench --stored 1000000).
	e.write = sql.OpenDB(connector{driver: &sqlite.Driver{}, dsn: DSN(e.path,
		"_pragma=journal_mode(WAL)", "_pragma=synchronous(FULL)", "_pragma=cache_size(-32768)", "_txlock=immediate")})
	// One writer: SQLite has one write lock anyway, and River's SQLite driver
	// expects every write of this process to go through one connection.
	e.write.SetMaxOpenConns(1)
	e.write.SetConnMaxIdleTime(0)
	if err := e.write.PingContext(ctx); err != nil {
		e.write.Close()
		return nil, fmt.Errorf("error opening %s: %w", e.path, err)
	}
	if e.file, err = os.Stat(e.path); err != nil {
		e.write.Close()
		return nil, fmt.Errorf("error opening %s: %w", e.path, err)
	}
	e.read = sql.OpenDB(connector{driver: &sqlite.Driver{}, dsn: DSN(e.path, "_pragma=query_only(1)")})
	e.read.SetMaxOpenConns(4)
	// River's web UI and its jobs go through River's driver, on the one
	// write connection: each takes the write lock for as long as it runs,
	// like any other write.
	if e.jobs, err = queue.New(riversqlite.New(e.write), config); err != nil {
		e.Close()
		return nil, err
	}
	return e.jobs, nil
}

// Migrate brings the schema up to date: River's tables, then caisse's.
func (e *Engine) Migrate(ctx context.Context) error {
	p, err := e.Migrations()
	if err != nil {
		return err
	}
	return queue.Migrate(ctx, riversqlite.New(e.write), p)
}

// Migrations are caisse's migrations for SQLite.
func (e *Engine) Migrations() (*goose.Provider, error) {
	return sqlstore.Goose(goose.DialectSQLite3, e.write, migrations)
}

// Ping reports an error when the file caisse opened is gone: the
// connection itself cannot be lost.
func (e *Engine) Ping(context.Context) error { return e.checkFile() }

// Close closes the connections.
func (e *Engine) Close() error {
	var errs []error
	if e.read != nil {
		errs = append(errs, e.read.Close())
	}
	if e.write != nil {
		errs = append(errs, e.write.Close())
	}
	return errors.Join(errs...)
}

// checkFile reports an error when the file at path is no longer the one
// caisse opened: deleted (rm caisse.db*), or replaced by another file. SQLite
// would go on writing to the open, unlinked file, acknowledging events that
// vanish when caisse stops; so every write transaction checks first. A stat
// costs little next to the fsync of a commit.
func (e *Engine) checkFile() error {
	fi, err := os.Stat(e.path)
	if err == nil && os.SameFile(fi, e.file) {
		return nil
	}
	if !e.gone.Swap(true) {
		e.store.Logger.Error("the SQLite database file was deleted or replaced while caisse was running: caisse now refuses events (503, Stripe retries them) "+
			"and reports not ready, since what it stored would be lost; restart caisse to open the file at this path again "+
			"(restore it from a backup first if you have one; otherwise caisse starts a new, empty database there)",
			"path", e.path)
	}
	return caisse.WithFix(fmt.Errorf("%w while caisse was running (SQLite file %s)", caisse.ErrDatabaseReplaced, e.path), "restart caisse")
}

// driver gives the shared store SQLite's connections and River's SQLite driver.
type driver struct{ db *Engine }

func (d driver) Begin(ctx context.Context) (sqlstore.Tx, error) {
	if err := d.db.checkFile(); err != nil {
		return nil, err
	}
	d.db.store.Statements.Add(1)
	tx, err := d.db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &sqliteTx{querier: querier{tx, &d.db.store.Statements}, tx: tx, river: d.db.jobs.Client}, nil
}

func (d driver) Reader() sqlstore.Querier { return querier{d.db.read, &d.db.store.Statements} }

// Writer runs each statement on the write connection, in a transaction of
// its own, once the file is known to be the one caisse opened.
func (d driver) Writer(context.Context) (sqlstore.Querier, error) {
	if err := d.db.checkFile(); err != nil {
		return nil, err
	}
	return querier{d.db.write, &d.db.store.Statements}, nil
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

// Package postgres stores caisse in PostgreSQL, for a shop that runs several
// caisse instances on one database. River coordinates the instances' workers;
// transaction-scoped advisory locks serialize the processing of events about
// the same Stripe objects and orders, and conditional updates keep stock
// right under concurrent transactions.
//
// It must not repeat a query the sqlite package also runs: shared SQL lives in
// internal/sqlstore.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/caisse/caisse/inbox"
	"github.com/caisse/caisse/internal/jobsui"
	"github.com/caisse/caisse/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is caisse's PostgreSQL store and queue.
type DB struct {
	*sqlstore.Store
	inbox.Runner
	// River makes River's configuration when Open sets up the queue: the
	// workers and periodic jobs caisse runs (package payments makes it).
	// Without it the queue only inserts jobs, and Start fails.
	River func() *river.Config
	// URL is the connection string (postgres://…).
	URL string

	pool  *pgxpool.Pool
	sqldb *sql.DB
	river *river.Client[pgx.Tx]
	queue sqlstore.Queue[pgx.Tx]
	// jobsUI ends the background work of River's web UI when the
	// database closes.
	jobsUI jobsui.Lifetime
}

// NewDB returns a store for the database at url. Call Open next.
func NewDB(url string) *DB {
	db := &DB{Store: sqlstore.NewStore(), URL: url}
	db.Driver = driver{db}
	db.Runner = inbox.Runner{In: inbox.New(db.Store), Jobs: &db.queue}
	// PostgreSQL takes concurrent writers: several ingest statements at
	// once, each still grouping the events that wait, and two appliers, so
	// that one applies in memory while the database serves the other.
	db.In.Committers = 2
	db.In.Appliers = 2
	return db
}

// Open connects to the database. It does not migrate.
func (db *DB) Open(ctx context.Context) error {
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		// The parser's message may quote the URL, password and all: leave it out.
		return fmt.Errorf("CAISSE_DATABASE_URL is not a valid PostgreSQL URL; write it as postgres://user:password@host:5432/database")
	}
	if !strings.Contains(db.URL, "pool_max_conns") {
		// Appliers, ingest, webhook requests and River's own work share the pool.
		cfg.MaxConns = int32(max(db.In.Appliers, 1) + max(db.In.Committers, 1) + 16)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"]; !ok && db.RescueAfter > 0 {
		// A transaction left open by a frozen process ends after the rescue
		// delay, and with it the locks on the events it claimed: other
		// instances take them up. (A process that dies closes its
		// connections, and the server ends its transactions at once.)
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt(db.RescueAfter.Milliseconds(), 10)
	}
	db.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("error connecting to PostgreSQL: %w", err)
	}
	if err := db.pool.Ping(ctx); err != nil {
		db.pool.Close()
		return fmt.Errorf("error connecting to PostgreSQL at %s: %w", cfg.ConnConfig.Host, err)
	}
	db.sqldb = stdlib.OpenDBFromPool(db.pool)
	db.river, err = river.NewClient(riverpgxv5.New(db.pool), db.riverConfig())
	if err != nil {
		db.Close()
		return fmt.Errorf("error setting up the job queue: %w", err)
	}
	db.queue.Client = db.river
	return nil
}

// migrationLock is the advisory lock that makes instances starting together
// migrate one at a time.
const migrationLock = 0x63616973 // "cais"

// Migrate brings the schema up to date: River's tables, then caisse's. Several
// instances may call it at once; they take turns.
func (db *DB) Migrate(ctx context.Context) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("error migrating: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("error waiting for other instances' migrations: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)

	p, err := db.goose()
	if err != nil {
		return err
	}
	return sqlstore.Migrate(ctx, riverpgxv5.New(db.pool), p)
}

// goose returns caisse's migrations. It takes no goose session lock:
// Migrate already holds migrationLock, and goose's own lock polls every few
// seconds, slowing instances that start together.
func (db *DB) goose() (*goose.Provider, error) {
	return sqlstore.Goose(goose.DialectPostgres, db.sqldb, migrations)
}

// Ready reports an error when the database cannot be reached or has
// migrations left to apply.
func (db *DB) Ready(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	p, err := db.goose()
	if err != nil {
		return err
	}
	return db.CheckReady(ctx, p)
}

// Close closes the pool.
func (db *DB) Close() error {
	// Events being stored (by a command that caught up, say) are committed first.
	db.In.StopIngest()
	// River's web UI stops counting jobs before the connections close.
	db.jobsUI.End()
	var err error
	if db.sqldb != nil {
		err = db.sqldb.Close()
	}
	if db.pool != nil {
		db.pool.Close()
	}
	return err
}

// JobsUI returns River's web UI for this database's jobs, to be mounted at
// prefix (such as "/admin/jobs") of the caller's mux with
// mux.Handle(prefix+"/", h): the handler strips prefix itself. It runs
// until Close, counting jobs by state in the background every few seconds
// meanwhile, on connections of the pool. Call it after Open.
func (db *DB) JobsUI(logger *slog.Logger, prefix string) (http.Handler, error) {
	return jobsui.New(&db.jobsUI, db.river, logger, prefix)
}

// driver gives the shared store PostgreSQL's pool and River's pgx driver.
type driver struct{ db *DB }

func (d driver) Begin(ctx context.Context) (sqlstore.Tx, error) {
	d.db.Statements.Add(1)
	tx, err := d.db.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &pgTx{querier: querier{tx, &d.db.Statements}, tx: tx, river: d.db.river}, nil
}

func (d driver) Reader() sqlstore.Querier { return querier{d.db.pool, &d.db.Statements} }

// Writer runs each statement on the pool in a transaction of its own.
func (d driver) Writer(context.Context) (sqlstore.Querier, error) {
	return querier{d.db.pool, &d.db.Statements}, nil
}

// Retryable reports deadlocks, serialization failures and lock timeouts:
// the transaction lost a race and only needs to run again.
func (d driver) Retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40P01", "40001", "55P03":
			return true
		}
	}
	return false
}

// WritableCTE is true: a WITH clause may insert, and the statement read.
func (d driver) WritableCTE() bool { return true }

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// querier runs the shared store's queries with pgx, numbering their
// placeholders.
type querier struct {
	e execer
	n *atomic.Int64 // statements run, for the metrics
}

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	q.n.Add(1)
	tag, err := q.e.Exec(ctx, sqlstore.Rebind(query), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	q.n.Add(1)
	return q.e.Query(ctx, sqlstore.Rebind(query), args...)
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	q.n.Add(1)
	return row{q.e.QueryRow(ctx, sqlstore.Rebind(query), args...)}
}

type row struct{ pgx.Row }

func (r row) Scan(dest ...any) error {
	if err := r.Row.Scan(dest...); errors.Is(err, pgx.ErrNoRows) {
		return sqlstore.ErrNoRows
	} else {
		return err
	}
}

type pgTx struct {
	querier
	tx    pgx.Tx
	river *river.Client[pgx.Tx]
}

func (t *pgTx) Commit(ctx context.Context) error   { t.n.Add(1); return t.tx.Commit(ctx) }
func (t *pgTx) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

// SkipLocked locks the rows a SELECT returns and passes over those another
// transaction holds, so instances claiming work never take the same rows.
func (t *pgTx) SkipLocked() string { return " FOR UPDATE SKIP LOCKED" }

// ForUpdate locks the rows a SELECT returns until the transaction ends.
func (t *pgTx) ForUpdate() string { return " FOR UPDATE" }

// Lock takes a transaction-scoped advisory lock per key, all in one
// statement, in the order of the keys' hashes, so two transactions locking
// overlapping keys at once take them in the same order and do not
// deadlock. Advisory locks are database-wide, so the key carries the
// schema: shops in different schemas of one database never wait on each
// other.
func (t *pgTx) Lock(ctx context.Context, keys ...string) error {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if len(keys) == 0 {
		return nil
	}
	t.n.Add(1)
	_, err := t.tx.Exec(ctx, `SELECT count(pg_advisory_xact_lock(h)) FROM (
		SELECT DISTINCT hashtextextended(current_schema() || ':' || k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS locks`, keys)
	return err
}

func (t *pgTx) Insert(ctx context.Context, jobs []river.InsertManyParams) error {
	// InsertManyFastTx, not Insert: the jobs must commit with the rest of
	// the transaction.
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

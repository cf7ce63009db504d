package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/caisse/caisse"
)

// ProcessEventArgs is the job that processes one stored event.
type ProcessEventArgs struct {
	EventID string `json:"event_id"`
}

// Kind names the job in River's tables.
func (ProcessEventArgs) Kind() string { return "process_event" }

var _ caisse.EventService = (*DB)(nil)

// ReceiveEvent stores a verified event and enqueues its processing in one
// transaction. A duplicate id changes nothing and enqueues nothing.
func (db *DB) ReceiveEvent(ctx context.Context, e *caisse.Event) (bool, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("error storing event %s: %w", e.ID, err)
	}
	defer tx.Rollback()
	e.ReceivedAt = db.now()
	e.Status = caisse.EventPending
	res, err := tx.ExecContext(ctx, `
		INSERT INTO events (id, type, created, livemode, api_version, object_id, received_at, status, payload)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`,
		e.ID, e.Type, e.Created, e.Livemode, e.APIVersion, e.ObjectID, micros(e.ReceivedAt), e.Status, e.Payload)
	if err != nil {
		return false, fmt.Errorf("error storing event %s: %w", e.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("error storing event %s: %w", e.ID, err)
	} else if n == 0 {
		return false, nil
	}
	// InsertTx, not Insert: the job must commit with the event, and the single
	// write connection is held by this transaction.
	if _, err := db.river.InsertTx(ctx, tx, ProcessEventArgs{EventID: e.ID}, nil); err != nil {
		return false, fmt.Errorf("error enqueuing event %s: %w", e.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("error storing event %s: %w", e.ID, err)
	}
	return true, nil
}

const eventColumns = `e.id, e.type, e.created, e.livemode, e.api_version, e.object_id, e.received_at,
	e.status, e.attempts, e.last_error, COALESCE(f.order_id, '')`

const eventFrom = ` FROM events e LEFT JOIN facts f ON f.id = e.object_id `

func scanEvent(row interface{ Scan(...any) error }, extra ...any) (*caisse.Event, error) {
	var e caisse.Event
	var received int64
	dest := append([]any{&e.ID, &e.Type, &e.Created, &e.Livemode, &e.APIVersion, &e.ObjectID, &received,
		&e.Status, &e.Attempts, &e.LastError, &e.OrderID}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	e.ReceivedAt = fromMicros(received)
	return &e, nil
}

// FindEvent returns one event with its payload.
func (db *DB) FindEvent(ctx context.Context, id string) (*caisse.Event, error) {
	return findEvent(ctx, db.read, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func findEvent(ctx context.Context, q querier, id string) (*caisse.Event, error) {
	var payload []byte
	row := q.QueryRowContext(ctx, `SELECT `+eventColumns+`, e.payload`+eventFrom+`WHERE e.id = ?`, id)
	e, err := scanEvent(row, &payload)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, caisse.Errorf(caisse.ENOTFOUND, "no event %s", id)
	} else if err != nil {
		return nil, fmt.Errorf("error reading event %s: %w", id, err)
	}
	e.Payload = payload
	return e, nil
}

// FindEvents lists events, newest first.
func (db *DB) FindEvents(ctx context.Context, filter caisse.EventFilter) ([]*caisse.Event, bool, error) {
	if err := filter.Normalize(); err != nil {
		return nil, false, err
	}
	where, args := "WHERE 1=1", []any{}
	if filter.Status != "" {
		where += " AND e.status = ?"
		args = append(args, filter.Status)
	}
	if filter.Type != "" {
		where += " AND e.type = ?"
		args = append(args, filter.Type)
	}
	if filter.StartingAfter != "" {
		var seq int64
		err := db.read.QueryRowContext(ctx, `SELECT seq FROM events WHERE id = ?`, filter.StartingAfter).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, caisse.Errorf(caisse.EINVALID, "starting_after: no event %s", filter.StartingAfter)
		} else if err != nil {
			return nil, false, fmt.Errorf("error listing events: %w", err)
		}
		where += " AND e.seq < ?"
		args = append(args, seq)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+eventColumns+eventFrom+where+
		` ORDER BY e.seq DESC LIMIT ?`, append(args, filter.Limit+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("error listing events: %w", err)
	}
	defer rows.Close()
	var out []*caisse.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, false, fmt.Errorf("error listing events: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("error listing events: %w", err)
	}
	more := len(out) > filter.Limit
	if more {
		out = out[:filter.Limit]
	}
	return out, more, nil
}

// ReplayEvent puts an event back into processing, whatever its status.
// Processing is idempotent, so replaying a processed event changes nothing.
func (db *DB) ReplayEvent(ctx context.Context, id string) (*caisse.Event, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("error replaying event %s: %w", id, err)
	}
	defer tx.Rollback()
	if err := db.replayTx(ctx, tx, id); err != nil {
		return nil, err
	}
	e, err := findEvent(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("error replaying event %s: %w", id, err)
	}
	return e, nil
}

func (db *DB) replayTx(ctx context.Context, tx *sql.Tx, id string) error {
	res, err := tx.ExecContext(ctx, `UPDATE events SET status = ?, last_error = '' WHERE id = ?`, caisse.EventPending, id)
	if err != nil {
		return fmt.Errorf("error replaying event %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return caisse.Errorf(caisse.ENOTFOUND, "no event %s", id)
	}
	if _, err := db.river.InsertTx(ctx, tx, ProcessEventArgs{EventID: id}, nil); err != nil {
		return fmt.Errorf("error enqueuing event %s: %w", id, err)
	}
	return nil
}

// ReplayFailed puts every dead letter back into processing.
func (db *DB) ReplayFailed(ctx context.Context) ([]string, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("error replaying failed events: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id FROM events WHERE status = ? ORDER BY seq`, caisse.EventFailed)
	if err != nil {
		return nil, fmt.Errorf("error replaying failed events: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("error replaying failed events: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("error replaying failed events: %w", err)
	}
	for _, id := range ids {
		if err := db.replayTx(ctx, tx, id); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("error replaying failed events: %w", err)
	}
	return ids, nil
}

// EventCounts returns how many events are in each status, and how many jobs
// wait in the queue.
func (db *DB) EventCounts(ctx context.Context) (map[caisse.EventStatus]int64, int64, error) {
	counts := map[caisse.EventStatus]int64{}
	rows, err := db.read.QueryContext(ctx, `SELECT status, count(*) FROM events GROUP BY status`)
	if err != nil {
		return nil, 0, fmt.Errorf("error counting events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s caisse.EventStatus
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, 0, fmt.Errorf("error counting events: %w", err)
		}
		counts[s] = n
	}
	var depth int64
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM river_job WHERE state IN ('available', 'retryable', 'scheduled', 'running')`).Scan(&depth); err != nil {
		return nil, 0, fmt.Errorf("error counting queued jobs: %w", err)
	}
	return counts, depth, nil
}

// processWorker applies one event.
type processWorker struct {
	river.WorkerDefaults[ProcessEventArgs]
	db *DB
}

func (w *processWorker) Work(ctx context.Context, job *river.Job[ProcessEventArgs]) error {
	return w.db.process(ctx, job)
}

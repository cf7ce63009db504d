package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caisse/caisse"
)

// wakeInbox tells the inbox that events wait (replayed ones), through
// EventsWake.
func (s *Store) wakeInbox() {
	select {
	case s.eventsWake <- struct{}{}:
	default:
	}
}

// EventsWake is signalled when events were put back into processing
// (replayed), so this instance's applier takes them at once rather than at
// its next poll.
func (s *Store) EventsWake() <-chan struct{} { return s.eventsWake }

const eventColumns = `e.id, e.type, e.created, e.livemode, e.api_version, e.object_id, e.received_at,
	e.status, e.attempts, e.last_error, COALESCE(f.order_id, '')`

const eventFrom = ` FROM events e LEFT JOIN facts f ON f.id = e.object_id `

func scanEvent(row Row, extra ...any) (*caisse.Event, error) {
	var e caisse.Event
	var received int64
	var status string
	dest := append([]any{&e.ID, &e.Type, &e.Created, &e.Livemode, &e.APIVersion, &e.ObjectID, &received,
		&status, &e.Attempts, &e.LastError, &e.OrderID}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	e.Status = caisse.EventStatus(status)
	e.ReceivedAt = fromMicros(received)
	return &e, nil
}

// FindEvent returns one event with its payload.
func (s *Store) FindEvent(ctx context.Context, id string) (*caisse.Event, error) {
	return findEvent(ctx, s.Driver.Reader(), id)
}

func findEvent(ctx context.Context, q Querier, id string) (*caisse.Event, error) {
	var payload []byte
	e, err := scanEvent(q.QueryRow(ctx, `SELECT `+eventColumns+`, e.payload`+eventFrom+`WHERE e.id = ?`, id), &payload)
	if errors.Is(err, ErrNoRows) {
		return nil, caisse.Errorf(caisse.ENOTFOUND, "no event %s", id)
	} else if err != nil {
		return nil, fmt.Errorf("error reading event %s: %w", id, err)
	}
	e.Payload = payload
	return e, nil
}

// seqOf returns the list position of an item, for paging after it.
func seqOf(ctx context.Context, q Querier, table, what, id string) (int64, error) {
	var seq int64
	err := q.QueryRow(ctx, `SELECT seq FROM `+table+` WHERE id = ?`, id).Scan(&seq)
	if errors.Is(err, ErrNoRows) {
		return 0, caisse.Errorf(caisse.EINVALID, "starting_after: no %s %s", what, id)
	} else if err != nil {
		return 0, fmt.Errorf("error listing %ss: %w", what, err)
	}
	return seq, nil
}

// list runs a paged query (its last argument the limit + 1) and scans each row.
func list[T any](ctx context.Context, q Querier, what string, limit int, query string, args []any, scan func(Row) (T, error)) ([]T, bool, error) {
	rows, err := q.Query(ctx, query, append(args, limit+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("error listing %ss: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		item, err := scan(rows)
		if err != nil {
			return nil, false, fmt.Errorf("error listing %ss: %w", what, err)
		}
		out = append(out, item)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("error listing %ss: %w", what, err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// eventWhere is the WHERE clause that keeps the events a filter selects,
// its page aside, over the events table named e. FindEvents and the replay
// of a filter's events share it, so a replay puts back what the list shows.
func eventWhere(filter caisse.EventFilter) (string, []any) {
	where, args := "WHERE 1=1", []any{}
	if filter.Status != "" {
		where += " AND e.status = ?"
		args = append(args, string(filter.Status))
	}
	if filter.Type != "" {
		where += " AND e.type = ?"
		args = append(args, filter.Type)
	}
	if filter.OrderID != "" {
		// The order's objects through the facts' order index, then their
		// events through the events' object index.
		where += " AND e.object_id IN (SELECT id FROM facts WHERE order_id = ?)"
		args = append(args, filter.OrderID)
	}
	if !filter.Since.IsZero() {
		where += " AND e.received_at >= ?"
		args = append(args, micros(filter.Since))
	}
	if !filter.Until.IsZero() {
		where += " AND e.received_at < ?"
		args = append(args, micros(filter.Until))
	}
	return where, args
}

// FindEvents lists events, newest first.
func (s *Store) FindEvents(ctx context.Context, filter caisse.EventFilter) ([]*caisse.Event, bool, error) {
	if err := filter.Normalize(); err != nil {
		return nil, false, err
	}
	r := s.Driver.Reader()
	where, args := eventWhere(filter)
	if filter.StartingAfter != "" {
		seq, err := seqOf(ctx, r, "events", "event", filter.StartingAfter)
		if err != nil {
			return nil, false, err
		}
		where += " AND e.seq < ?"
		args = append(args, seq)
	}
	return list(ctx, r, "event", filter.Limit, `SELECT `+eventColumns+eventFrom+where+` ORDER BY e.seq DESC LIMIT ?`, args,
		func(row Row) (*caisse.Event, error) { return scanEvent(row) })
}

// replayableWhere is the WHERE clause of the events a replay of the filter
// puts back: those it selects, whatever its page, whose payload is kept
// (see replay).
func replayableWhere(filter caisse.EventFilter) (string, []any, error) {
	filter.Page = caisse.Page{}
	if err := filter.Normalize(); err != nil {
		return "", nil, err
	}
	where, args := eventWhere(filter)
	return where + " AND length(e.payload) > 0", args, nil
}

// CountReplayable counts the events ReplayEvents would put back, so the
// owner sees how many before confirming.
func (s *Store) CountReplayable(ctx context.Context, filter caisse.EventFilter) (int64, error) {
	where, args, err := replayableWhere(filter)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.Driver.Reader().QueryRow(ctx, `SELECT count(*) FROM events e `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("error counting the events to replay: %w", err)
	}
	return n, nil
}

// ReplayEvents puts every event the filter selects back into processing,
// as ReplayEvent does, with one statement: however many there are, they go
// back together or not at all. Events whose payload was pruned are left
// as they are. It returns how many it put back.
func (s *Store) ReplayEvents(ctx context.Context, filter caisse.EventFilter) (int64, error) {
	where, args, err := replayableWhere(filter)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.inTx(ctx, func(tx Tx) error {
		var err error
		n, err = tx.Exec(ctx, `UPDATE events AS e SET status = ?, last_error = '', attempts = 0, next_attempt_at = 0 `+where,
			append([]any{string(caisse.EventPending)}, args...)...)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("error replaying events: %w", err)
	}
	if n > 0 {
		s.wakeInbox()
	}
	return n, nil
}

// ReplayEvent puts an event back into processing, whatever its status.
// Processing is idempotent, so replaying a processed event changes nothing.
func (s *Store) ReplayEvent(ctx context.Context, id string) (*caisse.Event, error) {
	var e *caisse.Event
	err := s.inTx(ctx, func(tx Tx) error {
		if err := replay(ctx, tx, id); err != nil {
			return err
		}
		var err error
		e, err = findEvent(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, wrap(err, "error replaying event %s", id)
	}
	s.wakeInbox()
	return e, nil
}

// replay makes an event pending and due now, with a fresh count of
// attempts. An ignored event whose payload was pruned has nothing left to
// apply.
func replay(ctx context.Context, tx Tx, id string) error {
	n, err := tx.Exec(ctx, `UPDATE events SET status = ?, last_error = '', attempts = 0, next_attempt_at = 0
		WHERE id = ? AND length(payload) > 0`, string(caisse.EventPending), id)
	if err != nil || n > 0 {
		return err
	}
	var found int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM events WHERE id = ?`, id).Scan(&found); err != nil {
		return err
	}
	if found == 0 {
		return caisse.Errorf(caisse.ENOTFOUND, "no event %s", id)
	}
	return caisse.Errorf(caisse.ECONFLICT, "event %s was ignored, and its payload was pruned after CAISSE_RETENTION: "+
		"there is nothing left to replay; caisse keeps only its id, to recognise it if Stripe sends it again", id)
}

// ReplayFailed puts every dead letter back into processing.
func (s *Store) ReplayFailed(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.inTx(ctx, func(tx Tx) error {
		var err error
		if ids, err = queryStrings(ctx, tx, `SELECT id FROM events WHERE status = ? ORDER BY seq`, string(caisse.EventFailed)); err != nil {
			return err
		}
		for _, id := range ids {
			if err := replay(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap(err, "error replaying failed events")
	}
	s.wakeInbox()
	return ids, nil
}

// EventBacklog returns how many events are pending and failed, and when
// the oldest pending one was received, in one statement that reads only the
// status index's pending and failed entries: never the processed events,
// which grow without bound, nor the job queue's tables.
func (s *Store) EventBacklog(ctx context.Context) (caisse.EventBacklog, error) {
	var b caisse.EventBacklog
	var oldest, oldestRow int64
	pending, failed, requests := string(caisse.DeliveryPending), string(caisse.DeliveryFailed), string(caisse.ChannelStripe)
	err := s.Driver.Reader().QueryRow(ctx, `SELECT
		(SELECT count(*) FROM events WHERE status = ?),
		(SELECT count(*) FROM events WHERE status = ?),
		COALESCE((SELECT received_at FROM events WHERE status = ? ORDER BY seq LIMIT 1), 0),
		(SELECT count(*) FROM outbox WHERE status = ? AND channel <> ?),
		(SELECT count(*) FROM outbox WHERE status = ?),
		COALESCE((SELECT min(created_at) FROM outbox WHERE status = ? AND channel <> ?), 0)`,
		string(caisse.EventPending), string(caisse.EventFailed), string(caisse.EventPending),
		pending, requests, failed, pending, requests).
		Scan(&b.Pending, &b.Failed, &oldest, &b.OutboxPending, &b.OutboxFailed, &oldestRow)
	if err != nil {
		return caisse.EventBacklog{}, fmt.Errorf("error counting pending and failed events and deliveries: %w", err)
	}
	if oldest != 0 {
		b.OldestPending = fromMicros(oldest)
	}
	if oldestRow != 0 {
		b.OutboxOldestPending = fromMicros(oldestRow)
	}
	return b, nil
}

// wrap adds context to an error, leaving application errors as they are so
// their code and message reach the user.
func wrap(err error, format string, args ...any) error {
	var e *caisse.Error
	if errors.As(err, &e) {
		return err
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// Probe proves the database takes writes: readiness fails when it does not
// (a full disk, a read-only file, a failover to a read-only server).
func (s *Store) Probe(ctx context.Context) error {
	err := s.inTx(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `UPDATE health SET checked_at = ? WHERE id = 1`, micros(s.now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("%w: %w", caisse.ErrNoWrites, err)
	}
	return nil
}

// claimColumns are what the applier reads of a claimed event.
const claimColumns = `id, type, created, livemode, api_version, object_id, received_at, attempts, payload`

// Claim locks and reads up to limit pending events that are due, oldest
// first (or the pending event id alone). On PostgreSQL, events another
// transaction claimed are passed over.
func Claim(ctx context.Context, tx Tx, now time.Time, limit int, id string) ([]*caisse.Event, error) {
	query, args := `SELECT `+claimColumns+` FROM events WHERE status = ? AND next_attempt_at <= ? ORDER BY seq LIMIT ?`,
		[]any{string(caisse.EventPending), micros(now), limit}
	if id != "" {
		query, args = `SELECT `+claimColumns+` FROM events WHERE status = ? AND id = ?`, []any{string(caisse.EventPending), id}
	}
	rows, err := tx.Query(ctx, query+tx.SkipLocked(), args...)
	if err != nil {
		return nil, fmt.Errorf("error claiming pending events: %w", err)
	}
	defer rows.Close()
	var evs []*caisse.Event
	for rows.Next() {
		e := &caisse.Event{Status: caisse.EventPending}
		var received int64
		if err := rows.Scan(&e.ID, &e.Type, &e.Created, &e.Livemode, &e.APIVersion, &e.ObjectID, &received, &e.Attempts, &e.Payload); err != nil {
			return nil, fmt.Errorf("error claiming pending events: %w", err)
		}
		e.ReceivedAt = fromMicros(received)
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("error claiming pending events: %w", err)
	}
	return evs, nil
}

// Finished is an event whose attempt is over: applied, ignored, or failed
// (and then tried again at Next, or a dead letter).
type Finished struct {
	Event  *caisse.Event
	Status caisse.EventStatus
	// Reason is why an ignored event counts for nothing, or what made the
	// attempt fail.
	Reason string
	Next   time.Time
}

// Finish records each finished event's status with one statement: the
// attempt counted, why it was ignored or failed, and when a failed one is
// tried again. The events are updated to match.
func Finish(ctx context.Context, tx Tx, done []Finished) error {
	return rowsOf(len(done), 4, func(from, to int, values string) error {
		args := make([]any, 0, 4*(to-from))
		for _, d := range done[from:to] {
			next := int64(0)
			if !d.Next.IsZero() {
				next = micros(d.Next)
			}
			args = append(args, d.Event.ID, string(d.Status), d.Reason, next)
			d.Event.Status, d.Event.LastError = d.Status, d.Reason
			d.Event.Attempts++
		}
		if _, err := tx.Exec(ctx, `
			UPDATE events SET status = done.column2, attempts = attempts + 1, last_error = done.column3, next_attempt_at = done.column4
			FROM (VALUES `+typed(values, "TEXT", "TEXT", "TEXT", "BIGINT")+`) AS done
			WHERE events.id = done.column1`, args...); err != nil {
			return fmt.Errorf("error recording the events' outcome: %w", err)
		}
		return nil
	})
}

// InsertEvents stores events as pending with one statement, on q (a
// Writer: the statement commits on its own), and returns the ids it
// inserted; an id already stored is left as it is. Where the database can
// read in the statement that writes (withStored: PostgreSQL), it also
// returns the stored bodies of the ids that were there already, so that
// duplicates are compared without a second round trip; otherwise
// existing is nil.
func InsertEvents(ctx context.Context, q Querier, now time.Time, events []*caisse.Event, withStored bool) (inserted map[string]bool, existing map[string][]byte, err error) {
	var values strings.Builder
	args := make([]any, 0, 10*len(events))
	for i, e := range events {
		e.ReceivedAt = now
		e.Status = caisse.EventPending
		if i > 0 {
			values.WriteString(", ")
		}
		values.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, e.ID, e.Type, e.Created, e.Livemode, e.APIVersion, e.ObjectID, micros(now), string(e.Status), e.Payload)
	}
	insert := `INSERT INTO events (id, type, created, livemode, api_version, object_id, received_at, status, payload)
		VALUES ` + values.String() + `
		ON CONFLICT (id) DO NOTHING
		RETURNING id`
	query := insert
	if withStored {
		// The SELECT sees the table as it was before the INSERT: the rows
		// it finds are the duplicates'.
		query = `WITH inserted AS (` + insert + `)
			SELECT id, TRUE, NULL FROM inserted
			UNION ALL SELECT id, FALSE, payload FROM events WHERE id IN (` + placeholders(len(events)) + `)`
		for _, e := range events {
			args = append(args, e.ID)
		}
		existing = map[string][]byte{}
	}
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	inserted = map[string]bool{}
	for rows.Next() {
		var id string
		var payload []byte
		isNew := true
		dest := []any{&id}
		if withStored {
			dest = append(dest, &isNew, &payload)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, nil, err
		}
		if isNew {
			inserted[id] = true
		} else {
			existing[id] = payload
		}
	}
	return inserted, existing, rows.Err()
}

// StoredPayloads returns the stored bodies of the events with these ids,
// in one statement.
func StoredPayloads(ctx context.Context, q Querier, ids []string) (map[string][]byte, error) {
	rows, err := q.Query(ctx, `SELECT id, payload FROM events WHERE id IN (`+placeholders(len(ids))+`)`, anys(ids)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	stored := map[string][]byte{}
	for rows.Next() {
		var id string
		var payload []byte
		if err := rows.Scan(&id, &payload); err != nil {
			return nil, err
		}
		stored[id] = payload
	}
	return stored, rows.Err()
}

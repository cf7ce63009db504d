package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/caisse/caisse"
)

var _ caisse.OrderService = (*DB)(nil)

const orderColumns = `id, status, items, checkout_items, checkout_open, holds, currency, amount_total,
	amount_paid, amount_refunded, customer_email, checkout_session, payment_intent, payment_error,
	dispute, oversold, unknown_products, items_error, created_at, updated_at`

func scanOrder(row interface{ Scan(...any) error }) (*caisse.OrderRecord, error) {
	var o caisse.OrderRecord
	var items, checkoutItems, holds, dispute, unknown string
	var created, updated int64
	if err := row.Scan(&o.ID, &o.Status, &items, &checkoutItems, &o.CheckoutOpen, &holds, &o.Currency,
		&o.AmountTotal, &o.AmountPaid, &o.AmountRefunded, &o.CustomerEmail, &o.CheckoutSession,
		&o.PaymentIntent, &o.PaymentError, &dispute, &o.Oversold, &unknown, &o.ItemsError, &created, &updated); err != nil {
		return nil, err
	}
	for _, j := range []struct {
		s string
		v any
	}{{items, &o.Items}, {checkoutItems, &o.CheckoutItems}, {holds, &o.Holds}, {unknown, &o.UnknownProducts}} {
		if err := json.Unmarshal([]byte(j.s), j.v); err != nil {
			return nil, fmt.Errorf("order %s: %w", o.ID, err)
		}
	}
	if dispute != "" {
		o.Dispute = &caisse.Dispute{}
		if err := json.Unmarshal([]byte(dispute), o.Dispute); err != nil {
			return nil, fmt.Errorf("order %s: %w", o.ID, err)
		}
	}
	if o.Items == nil {
		o.Items = []caisse.Item{}
	}
	if o.UnknownProducts == nil {
		o.UnknownProducts = []string{}
	}
	o.CreatedAt, o.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &o, nil
}

func findOrderRecord(ctx context.Context, q querier, id string) (*caisse.OrderRecord, error) {
	o, err := scanOrder(q.QueryRowContext(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("error reading order %s: %w", id, err)
	}
	return o, nil
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain data is marshalled here
	}
	if string(b) == "null" {
		return "[]"
	}
	return string(b)
}

func putOrder(ctx context.Context, q querier, o *caisse.OrderRecord) error {
	dispute := ""
	if o.Dispute != nil {
		dispute = jsonText(o.Dispute)
	}
	_, err := q.ExecContext(ctx, `
		INSERT INTO orders (`+orderColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, items = excluded.items,
			checkout_items = excluded.checkout_items, checkout_open = excluded.checkout_open,
			holds = excluded.holds, currency = excluded.currency, amount_total = excluded.amount_total,
			amount_paid = excluded.amount_paid, amount_refunded = excluded.amount_refunded,
			customer_email = excluded.customer_email, checkout_session = excluded.checkout_session,
			payment_intent = excluded.payment_intent, payment_error = excluded.payment_error,
			dispute = excluded.dispute, oversold = excluded.oversold,
			unknown_products = excluded.unknown_products, items_error = excluded.items_error,
			updated_at = excluded.updated_at`,
		o.ID, o.Status, jsonText(o.Items), jsonText(o.CheckoutItems), o.CheckoutOpen, jsonText(o.Holds),
		o.Currency, o.AmountTotal, o.AmountPaid, o.AmountRefunded, o.CustomerEmail, o.CheckoutSession,
		o.PaymentIntent, o.PaymentError, dispute, o.Oversold, jsonText(o.UnknownProducts), o.ItemsError,
		micros(o.CreatedAt), micros(o.UpdatedAt))
	if err != nil {
		return fmt.Errorf("error storing order %s: %w", o.ID, err)
	}
	return nil
}

// FindOrder returns an order with its timeline.
func (db *DB) FindOrder(ctx context.Context, id string) (*caisse.Order, error) {
	rec, err := findOrderRecord(ctx, db.read, id)
	if err != nil {
		return nil, err
	} else if rec == nil {
		return nil, caisse.Errorf(caisse.ENOTFOUND, "no order %s", id)
	}
	o := rec.Order
	rows, err := db.read.QueryContext(ctx, `
		SELECT at, event_id, type, from_status, to_status FROM order_timeline WHERE order_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("error reading the timeline of order %s: %w", id, err)
	}
	defer rows.Close()
	o.Timeline = []caisse.TimelineEntry{}
	for rows.Next() {
		var e caisse.TimelineEntry
		var at int64
		if err := rows.Scan(&at, &e.EventID, &e.Type, &e.From, &e.To); err != nil {
			return nil, fmt.Errorf("error reading the timeline of order %s: %w", id, err)
		}
		e.At = fromMicros(at)
		o.Timeline = append(o.Timeline, e)
	}
	return &o, rows.Err()
}

// FindOrders lists orders, newest first. The list leaves out timelines.
func (db *DB) FindOrders(ctx context.Context, filter caisse.OrderFilter) ([]*caisse.Order, bool, error) {
	if err := filter.Normalize(); err != nil {
		return nil, false, err
	}
	where, args := "WHERE 1=1", []any{}
	if filter.Status != "" {
		where += " AND status = ?"
		args = append(args, filter.Status)
	}
	if filter.StartingAfter != "" {
		var seq int64
		err := db.read.QueryRowContext(ctx, `SELECT seq FROM orders WHERE id = ?`, filter.StartingAfter).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, caisse.Errorf(caisse.EINVALID, "starting_after: no order %s", filter.StartingAfter)
		} else if err != nil {
			return nil, false, fmt.Errorf("error listing orders: %w", err)
		}
		where += " AND seq < ?"
		args = append(args, seq)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+orderColumns+` FROM orders `+where+` ORDER BY seq DESC LIMIT ?`,
		append(args, filter.Limit+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("error listing orders: %w", err)
	}
	defer rows.Close()
	var out []*caisse.Order
	for rows.Next() {
		rec, err := scanOrder(rows)
		if err != nil {
			return nil, false, fmt.Errorf("error listing orders: %w", err)
		}
		out = append(out, &rec.Order)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("error listing orders: %w", err)
	}
	more := len(out) > filter.Limit
	if more {
		out = out[:filter.Limit]
	}
	return out, more, nil
}

package main

import (
	"context"
	"fmt"

	"github.com/caisse/caisse/internal/sqlstore"
)

// seedChunk is how many events one seeding transaction writes.
const seedChunk = 50_000

// seed fills the database with the history of a shop that has run for a
// long while: n processed events (each with the given payload, so their
// size is realistic), n/3 paid orders with their n facts, n timeline
// entries and n/3 delivered outbox messages, and n/100 products. Their ids
// start with "seed", so they never meet the ids of real Stripe objects.
// It is for benchmarks that measure whether caisse slows down as its
// tables grow.
func seed(ctx context.Context, s *sqlstore.Store, n int, payload []byte, factData string) error {
	now := s.Now().UTC().UnixMicro()
	for from := 0; from < n; from += seedChunk {
		to := min(from+seedChunk, n)
		err := s.RetryTx(ctx, func(tx sqlstore.Tx) error {
			steps := []struct {
				what  string
				query string
				args  []any
			}{
				{"events", `INSERT INTO events (id, type, created, livemode, api_version, object_id, received_at, status, attempts, payload)
					SELECT 'evt_seed_' || x, 'checkout.session.completed', ? + x, ?, '2026-01-28.clover', 'cs_seed_' || x, ? + x, 'processed', 1, ?
					FROM seq`, []any{now / 1e6, false, now, payload}},
				{"facts", `INSERT INTO facts (id, kind, order_id, payment_intent, charge, data)
					SELECT 'obj_seed_' || x, 'checkout_session', 'o_seed_' || (x / 3), 'pi_seed_' || (x / 3), '', ? FROM seq`,
					[]any{factData}},
				{"orders", `INSERT INTO orders (id, status, items, currency, amount_total, amount_paid, customer_email,
						checkout_session, payment_intent, created_at, updated_at)
					SELECT 'o_seed_' || (x / 3), 'paid', '[{"product_id":"prod_seed_1","quantity":1}]', 'eur', 2500, 2500,
						'buyer@example.com', 'obj_seed_' || x, 'pi_seed_' || (x / 3), ? + x, ? + x
					FROM seq WHERE x % 3 = 0`, []any{now, now}},
				{"timeline", `INSERT INTO order_timeline (order_id, at, event_id, type, from_status, to_status)
					SELECT 'o_seed_' || (x / 3), ? + x, 'evt_seed_' || x, 'checkout.session.completed', 'pending', 'paid' FROM seq`,
					[]any{now}},
				{"outbox", `INSERT INTO outbox (id, key, channel, topic, recipient, order_id, payload, status, created_at, attempts, delivered_at)
					SELECT 'dlv_seed_' || x, 'seed:' || x, 'email', 'order_confirmation', 'buyer@example.com', 'o_seed_' || (x / 3), '{}',
						'delivered', ? + x, 1, ? + x
					FROM seq WHERE x % 3 = 0`, []any{now, now}},
				{"products", `INSERT INTO products (id, name, price, currency, stock, created_at, updated_at)
					SELECT 'prod_seed_' || (x / 100), 'Seeded product', 2500, 'eur', 100, ?, ?
					FROM seq WHERE x % 100 = 0`, []any{now, now}},
			}
			for _, st := range steps {
				// The same numbers for every table: x runs over this chunk.
				q := `WITH RECURSIVE seq(x) AS (SELECT CAST(? AS BIGINT) UNION ALL SELECT x + 1 FROM seq WHERE x < ?) ` + st.query
				if _, err := tx.Exec(ctx, q, append([]any{from + 1, to}, st.args...)...); err != nil {
					return fmt.Errorf("error seeding %s: %w", st.what, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	// A database that grew to this size over months has been analyzed many
	// times over (PostgreSQL's autovacuum, SQLite's optimize): without
	// statistics, PostgreSQL's planner takes a lookup of a few hundred ids
	// for most of the table and scans it, which a real shop never sees.
	w, err := s.Driver.Writer(ctx)
	if err != nil {
		return err
	}
	if _, err := w.Exec(ctx, `ANALYZE`); err != nil {
		return fmt.Errorf("error analyzing the seeded tables: %w", err)
	}
	return nil
}

package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/caisse/caisse"
)

// The books' SQL: balance transactions and payouts, merged as the rules
// merge facts (caisse.BalanceTransaction.Merge, caisse.Payout.Merge) under
// locks on their ids, so two writers in any order end with the same row.

// FetchBalanceArgs is the job that asks Stripe for the figures of a balance
// transaction caisse knows by its id only.
type FetchBalanceArgs struct {
	ID string `json:"id"`
}

// Kind is the job's kind in River.
func (FetchBalanceArgs) Kind() string { return "fetch_balance_transaction" }

// ListPayoutArgs is the job that lists the balance transactions an
// automatic payout carried.
type ListPayoutArgs struct {
	Payout string `json:"payout"`
}

// Kind is the job's kind in River.
func (ListPayoutArgs) Kind() string { return "list_payout_transactions" }

// ListRefundsArgs is the job that asks Stripe for a charge's refunds and
// their balance transactions, when its event did not list them.
type ListRefundsArgs struct {
	Charge string `json:"charge"`
}

// Kind is the job's kind in River.
func (ListRefundsArgs) Kind() string { return "list_charge_refunds" }

const balanceColumns = `id, type, source, charge, order_id, amount, fee, net, currency, exchange_rate, created, available_on, payout, known, livemode`

func scanBalance(row Row) (caisse.BalanceTransaction, error) {
	var t caisse.BalanceTransaction
	err := row.Scan(&t.ID, &t.Type, &t.Source, &t.Charge, &t.OrderID, &t.Amount, &t.Fee, &t.Net, &t.Currency, &t.ExchangeRate,
		&t.Created, &t.AvailableOn, &t.Payout, &t.Known, &t.Livemode)
	return t, err
}

func readBalance(ctx context.Context, q Querier, where string, args ...any) ([]caisse.BalanceTransaction, error) {
	rows, err := q.Query(ctx, `SELECT `+balanceColumns+` FROM balance_transactions WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("error reading balance transactions: %w", err)
	}
	defer rows.Close()
	var out []caisse.BalanceTransaction
	for rows.Next() {
		t, err := scanBalance(rows)
		if err != nil {
			return nil, fmt.Errorf("error reading balance transactions: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// booksKeys are the locks that putBalance and putPayout need, to be taken
// in one statement (one global order, so two writers cannot deadlock).
func booksKeys(txns []caisse.BalanceTransaction, payouts []caisse.Payout) []string {
	var keys []string
	for _, t := range txns {
		keys = append(keys, "balance:"+t.ID)
	}
	for _, p := range payouts {
		keys = append(keys, "payout:"+p.ID)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// putBalance merges balance transactions into what is stored, in tx, links
// each to its charge's order when that is known, and queues a job for
// each one new and known by its id only. The caller holds their locks
// (booksKeys).
func (s *Store) putBalance(ctx context.Context, tx Tx, txns []caisse.BalanceTransaction) error {
	if len(txns) == 0 {
		return nil
	}
	merged := map[string]caisse.BalanceTransaction{}
	for _, t := range txns {
		cur := merged[t.ID]
		cur.Merge(t)
		merged[t.ID] = cur
	}
	ids := make([]string, 0, len(merged))
	for id := range merged {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	stored, err := readBalance(ctx, tx, `id IN (`+placeholders(len(ids))+`)`+tx.ForUpdate(), anys(ids)...)
	if err != nil {
		return err
	}
	existing := map[string]bool{}
	for _, t := range stored {
		existing[t.ID] = true
		cur := merged[t.ID]
		cur.Merge(t)
		merged[t.ID] = cur
	}
	var fetch []river.InsertManyParams
	for _, id := range ids {
		t := merged[id]
		if _, err := tx.Exec(ctx, `
			INSERT INTO balance_transactions (`+balanceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET type = excluded.type, source = excluded.source, charge = excluded.charge,
				order_id = excluded.order_id, amount = excluded.amount, fee = excluded.fee, net = excluded.net,
				currency = excluded.currency, exchange_rate = excluded.exchange_rate, created = excluded.created,
				available_on = excluded.available_on, payout = excluded.payout, known = excluded.known, livemode = excluded.livemode`,
			t.ID, t.Type, t.Source, t.Charge, t.OrderID, t.Amount, t.Fee, t.Net, t.Currency, t.ExchangeRate,
			t.Created, t.AvailableOn, t.Payout, t.Known, t.Livemode); err != nil {
			return fmt.Errorf("error storing balance transaction %s: %w", id, err)
		}
		// A job per transaction new and without its figures: asked of
		// Stripe after this commits, outside it, so an event never waits
		// for Stripe.
		if !t.Known && !existing[id] {
			fetch = append(fetch, river.InsertManyParams{Args: FetchBalanceArgs{ID: id}})
		}
	}
	if len(fetch) > 0 {
		if err := tx.Insert(ctx, fetch); err != nil {
			return fmt.Errorf("error queueing the balance transactions' lookups: %w", err)
		}
	}
	return linkBalance(ctx, tx, `id IN (`+placeholders(len(ids))+`)`, anys(ids)...)
}

// linkBalance links the balance transactions that where selects to the
// order their charge is linked to, where it is.
func linkBalance(ctx context.Context, tx Tx, where string, args ...any) error {
	_, err := tx.Exec(ctx, `
		UPDATE balance_transactions SET order_id = (SELECT f.order_id FROM facts f WHERE f.id = balance_transactions.charge)
		WHERE `+where+` AND charge <> ''
			AND EXISTS (SELECT 1 FROM facts f WHERE f.id = balance_transactions.charge AND f.order_id <> ''
				AND f.order_id <> balance_transactions.order_id)`, args...)
	if err != nil {
		return fmt.Errorf("error linking balance transactions to their orders: %w", err)
	}
	return nil
}

// PutBalance merges balance transactions learnt from Stripe's API (a
// lookup by id, a payout's list) into the books, in a transaction of its
// own.
func (s *Store) PutBalance(ctx context.Context, txns []caisse.BalanceTransaction) error {
	return s.RetryTx(ctx, func(tx Tx) error {
		if err := tx.Lock(ctx, booksKeys(txns, nil)...); err != nil {
			return err
		}
		return s.putBalance(ctx, tx, txns)
	})
}

// BalanceKnown reports whether caisse has a balance transaction's figures.
func (s *Store) BalanceKnown(ctx context.Context, id string) (bool, error) {
	var known bool
	err := s.Driver.Reader().QueryRow(ctx, `SELECT known FROM balance_transactions WHERE id = ?`, id).Scan(&known)
	if errors.Is(err, ErrNoRows) {
		return false, nil
	}
	return known, err
}

const payoutColumns = `id, amount, currency, arrival_date, status, automatic, failure_code, failure_message, created, livemode, listed`

func scanPayout(row Row) (*caisse.Payout, error) {
	var p caisse.Payout
	err := row.Scan(&p.ID, &p.Amount, &p.Currency, &p.ArrivalDate, &p.Status, &p.Automatic, &p.FailureCode, &p.FailureMessage,
		&p.Created, &p.Livemode, &p.Listed)
	return &p, err
}

func findPayout(ctx context.Context, q Querier, id, lock string) (*caisse.Payout, error) {
	p, err := scanPayout(q.QueryRow(ctx, `SELECT `+payoutColumns+` FROM payouts WHERE id = ?`+lock, id))
	if errors.Is(err, ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("error reading payout %s: %w", id, err)
	}
	return p, nil
}

// putPayout merges a payout into what is stored, in tx; an automatic one
// not listed yet gets the job that lists what it carried, once. The
// caller holds its lock (booksKeys).
func (s *Store) putPayout(ctx context.Context, tx Tx, p caisse.Payout) error {
	cur, err := findPayout(ctx, tx, p.ID, tx.ForUpdate())
	if err != nil {
		return err
	}
	merged := p
	if cur != nil {
		merged = *cur
		merged.Merge(p)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO payouts (`+payoutColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET amount = excluded.amount, currency = excluded.currency, arrival_date = excluded.arrival_date,
			status = excluded.status, automatic = excluded.automatic, failure_code = excluded.failure_code,
			failure_message = excluded.failure_message, created = excluded.created, livemode = excluded.livemode, listed = excluded.listed`,
		merged.ID, merged.Amount, merged.Currency, merged.ArrivalDate, merged.Status, merged.Automatic, merged.FailureCode,
		merged.FailureMessage, merged.Created, merged.Livemode, merged.Listed); err != nil {
		return fmt.Errorf("error storing payout %s: %w", p.ID, err)
	}
	if merged.Automatic && !merged.Listed && (cur == nil || !cur.Automatic) {
		if err := tx.Insert(ctx, []river.InsertManyParams{{Args: ListPayoutArgs{Payout: p.ID}}}); err != nil {
			return fmt.Errorf("error queueing the list of payout %s: %w", p.ID, err)
		}
	}
	return nil
}

// PayoutListed records that every balance transaction of a payout is
// listed.
func (s *Store) PayoutListed(ctx context.Context, id string) error {
	return s.RetryTx(ctx, func(tx Tx) error {
		p := caisse.Payout{ID: id, Listed: true}
		if err := tx.Lock(ctx, booksKeys(nil, []caisse.Payout{p})...); err != nil {
			return err
		}
		return s.putPayout(ctx, tx, p)
	})
}

// OrderBooks returns an order's fee, net and payout, from its balance
// transactions: those linked to it, and those of its charges not linked
// yet.
func (s *Store) OrderBooks(ctx context.Context, orderID string) (caisse.Books, error) {
	r := s.Driver.Reader()
	txns, err := readBalance(ctx, r, `order_id = ? OR (order_id = '' AND charge IN (SELECT id FROM facts WHERE order_id = ? AND kind = ?))`,
		orderID, orderID, string(caisse.KindCharge))
	if err != nil {
		return caisse.Books{}, fmt.Errorf("error reading the books of order %s: %w", orderID, err)
	}
	payouts := map[string]caisse.Payout{}
	for i, t := range txns {
		txns[i].OrderID = orderID
		if t.Payout == "" || payouts[t.Payout].ID != "" {
			continue
		}
		p, err := findPayout(ctx, r, t.Payout, "")
		if err != nil {
			return caisse.Books{}, err
		}
		if p != nil {
			payouts[t.Payout] = *p
		} else {
			payouts[t.Payout] = caisse.Payout{ID: t.Payout}
		}
	}
	return caisse.BooksOf(txns, payouts), nil
}

// FindPayouts lists payouts, newest first.
func (s *Store) FindPayouts(ctx context.Context, f caisse.PayoutFilter) ([]*caisse.Payout, bool, error) {
	if err := f.Page.Normalize(); err != nil {
		return nil, false, err
	}
	r := s.Driver.Reader()
	where, args := "", []any{}
	if f.StartingAfter != "" {
		seq, err := seqOf(ctx, r, "payouts", "payout", f.StartingAfter)
		if err != nil {
			return nil, false, err
		}
		where, args = " WHERE seq < ?", append(args, seq)
	}
	return list(ctx, r, "payout", f.Limit, `SELECT `+payoutColumns+` FROM payouts`+where+` ORDER BY seq DESC LIMIT ?`, args, scanPayout)
}

// FindPayout returns a payout with the money it carried, linked to the
// orders of its charges.
func (s *Store) FindPayout(ctx context.Context, id string) (*caisse.PayoutReport, error) {
	r := s.Driver.Reader()
	p, err := findPayout(ctx, r, id, "")
	if err != nil {
		return nil, err
	} else if p == nil {
		return nil, caisse.Errorf(caisse.ENOTFOUND, "no payout %s", id)
	}
	txns, err := readBalance(ctx, r, `payout = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("error reading the balance transactions of payout %s: %w", id, err)
	}
	// A transaction whose charge was linked to an order after it was
	// stored names its order through the charge.
	for i, t := range txns {
		if t.OrderID != "" || t.Charge == "" {
			continue
		}
		var order string
		err := r.QueryRow(ctx, `SELECT order_id FROM facts WHERE id = ?`, t.Charge).Scan(&order)
		if err == nil {
			txns[i].OrderID = order
		}
	}
	rep := caisse.ReportPayout(*p, txns)
	return &rep, nil
}

var _ caisse.BooksReader = (*Store)(nil)

// EachMovement reads the known balance transactions of f's mode created in
// [f.From, f.To), by time then id, through the index on (livemode,
// created), calling fn with each as the rows come (constant memory). With
// f.Orders each comes with its order (linked directly, or through its
// charge) and its payout's arrival date.
func (s *Store) EachMovement(ctx context.Context, f caisse.BooksFilter, fn func(caisse.BooksEntry) error) error {
	cols := `b.id, b.type, b.source, b.charge, b.order_id, b.amount, b.fee, b.net, b.currency, b.exchange_rate,
		b.created, b.available_on, b.payout, b.known, b.livemode`
	from := ` FROM balance_transactions b`
	if f.Orders {
		cols += `, COALESCE(o.id, ''), COALESCE(o.customer_name, ''), COALESCE(o.items, '[]'), COALESCE(o.currency, ''),
			COALESCE(o.amount_total, 0), COALESCE(o.amount_tax, 0), COALESCE(o.amount_shipping, 0),
			COALESCE(o.amount_discount, 0), COALESCE(p.arrival_date, 0)`
		from += ` LEFT JOIN facts f ON b.order_id = '' AND b.charge <> '' AND f.id = b.charge
			LEFT JOIN orders o ON o.id = (CASE WHEN b.order_id <> '' THEN b.order_id ELSE f.order_id END)
			LEFT JOIN payouts p ON b.payout <> '' AND p.id = b.payout`
	}
	rows, err := s.Driver.Reader().Query(ctx, `SELECT `+cols+from+`
		WHERE b.livemode = ? AND b.created >= ? AND b.created < ? AND b.known = TRUE
		ORDER BY b.livemode, b.created, b.id`, f.Livemode, f.From.Unix(), f.To.Unix())
	if err != nil {
		return fmt.Errorf("error reading the books: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e caisse.BooksEntry
		t := &e.BalanceTransaction
		dest := []any{&t.ID, &t.Type, &t.Source, &t.Charge, &t.OrderID, &t.Amount, &t.Fee, &t.Net, &t.Currency, &t.ExchangeRate,
			&t.Created, &t.AvailableOn, &t.Payout, &t.Known, &t.Livemode}
		var o caisse.OrderBrief
		var items string
		if f.Orders {
			dest = append(dest, &o.ID, &o.CustomerName, &items, &o.Currency, &o.AmountTotal, &o.AmountTax, &o.AmountShipping,
				&o.AmountDiscount, &e.PayoutArrival)
		}
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("error reading the books: %w", err)
		}
		if o.ID != "" {
			if err := json.Unmarshal([]byte(items), &o.Lines); err != nil {
				return fmt.Errorf("error reading the items of order %s: %w", o.ID, err)
			}
			e.Order = &o
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("error reading the books: %w", err)
	}
	return nil
}

// SumMovements reads the known balance transactions of f's mode created in
// [f.From, f.To) summed by bucket of seconds, currency, type and the kind
// of their source (its prefix: ch_, re_, dp_, po_…), which is all that
// tells a movement's kind (caisse.MoveType): a quarter of an hour of a
// busy shop is one row per kind instead of hundreds.
func (s *Store) SumMovements(ctx context.Context, f caisse.BooksFilter, bucket int64, fn func(caisse.BooksEntry) error) error {
	if bucket <= 0 {
		return fmt.Errorf("summing the books needs a bucket of at least a second, not %d", bucket)
	}
	rows, err := s.Driver.Reader().Query(ctx, `SELECT created / ? AS bucket, currency, type, substr(source, 1, 3) AS kind,
			sum(amount), sum(fee), sum(net), count(*)
		FROM balance_transactions
		WHERE livemode = ? AND created >= ? AND created < ? AND known = TRUE
		GROUP BY 1, 2, 3, 4`, bucket, f.Livemode, f.From.Unix(), f.To.Unix())
	if err != nil {
		return fmt.Errorf("error reading the books: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e caisse.BooksEntry
		t := &e.BalanceTransaction
		var at int64
		if err := rows.Scan(&at, &t.Currency, &t.Type, &t.Source, &t.Amount, &t.Fee, &t.Net, &e.Count); err != nil {
			return fmt.Errorf("error reading the books: %w", err)
		}
		t.Created, t.Known, t.Livemode = at*bucket, true, f.Livemode
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("error reading the books: %w", err)
	}
	return nil
}

// BalancePending counts the balance transactions known by their id only.
func (s *Store) BalancePending(ctx context.Context) (int, error) {
	var n int
	if err := s.Driver.Reader().QueryRow(ctx, `SELECT count(*) FROM balance_transactions WHERE known = FALSE`).Scan(&n); err != nil {
		return 0, fmt.Errorf("error counting the balance transactions waiting for their figures: %w", err)
	}
	return n, nil
}

// booksCatchUpMax bounds the lookups one catch-up queues.
const booksCatchUpMax = 10_000

// RequeueBooks queues again the lookups the books still wait for: the
// figures of each balance transaction known by its id only, and the list
// of each automatic payout not listed yet. Their first jobs may have
// been cancelled (no secret key then, or a key without the permission)
// and forgotten by River since. Each job is unique while it waits or
// runs, so a catch-up on several instances, or twice, queues one.
func (s *Store) RequeueBooks(ctx context.Context) (txns, payouts int, err error) {
	r := s.Driver.Reader()
	ids, err := queryStrings(ctx, r, `SELECT id FROM balance_transactions WHERE known = FALSE ORDER BY id LIMIT ?`, booksCatchUpMax)
	if err != nil {
		return 0, 0, fmt.Errorf("error reading the balance transactions waiting for their figures: %w", err)
	}
	pos, err := queryStrings(ctx, r, `SELECT id FROM payouts WHERE automatic = TRUE AND listed = FALSE ORDER BY id LIMIT ?`, booksCatchUpMax)
	if err != nil {
		return 0, 0, fmt.Errorf("error reading the payouts not listed: %w", err)
	}
	if len(ids)+len(pos) == 0 {
		return 0, 0, nil
	}
	unique := &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled}}}
	var jobs []river.InsertManyParams
	for _, id := range ids {
		jobs = append(jobs, river.InsertManyParams{Args: FetchBalanceArgs{ID: id}, InsertOpts: unique})
	}
	for _, id := range pos {
		jobs = append(jobs, river.InsertManyParams{Args: ListPayoutArgs{Payout: id}, InsertOpts: unique})
	}
	err = s.RetryTx(ctx, func(tx Tx) error { return tx.Insert(ctx, jobs) })
	if err != nil {
		return 0, 0, fmt.Errorf("error queueing the books' lookups: %w", err)
	}
	return len(ids), len(pos), nil
}

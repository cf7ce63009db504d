package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caisse/caisse"
)

var _ caisse.OrderService = (*Store)(nil)

const orderColumns = `id, status, items, checkout_items, checkout_open, holds, currency, amount_total,
	amount_paid, amount_refunded, customer_email, checkout_session, payment_intent, payment_error,
	dispute, oversold, unknown_products, items_error, created_at, updated_at, checkout_expires_at,
	oversold_refund, amount_due, livemode, payment_mismatch, mismatched_payments, mismatch_refunds,
	checkout_amount_due, checkout_currency, checkout_livemode, locale, customer_name, customer_phone,
	failed_attempts, sales_told, checkout_url, stripe_customer, fraud_warning, fraud_refund, shipping,
	amount_shipping, amount_tax, amount_discount, shipment, refunds_requested`

func scanOrder(row Row) (*caisse.OrderRecord, error) {
	var o caisse.OrderRecord
	var status, items, checkoutItems, holds, dispute, unknown, mismatched, refunds, told, fraud, shipping, shipment, owner string
	var created, updated, expires int64
	if err := row.Scan(&o.ID, &status, &items, &checkoutItems, &o.CheckoutOpen, &holds, &o.Currency,
		&o.AmountTotal, &o.AmountPaid, &o.AmountRefunded, &o.CustomerEmail, &o.CheckoutSession,
		&o.PaymentIntent, &o.PaymentError, &dispute, &o.Oversold, &unknown, &o.ItemsError, &created, &updated,
		&expires, &o.OversoldRefund, &o.AmountDue, &o.Livemode, &o.PaymentMismatch, &mismatched, &refunds,
		&o.CheckoutTerms.AmountDue, &o.CheckoutTerms.Currency, &o.CheckoutTerms.Livemode, &o.Locale,
		&o.Customer.Name, &o.Customer.Phone, &o.FailedAttempts, &told, &o.CheckoutURL, &o.StripeCustomer,
		&fraud, &o.FraudRefund, &shipping, &o.AmountShipping, &o.AmountTax, &o.AmountDiscount, &shipment, &owner); err != nil {
		return nil, err
	}
	o.Status = caisse.OrderStatus(status)
	for _, j := range []struct {
		s string
		v any
	}{{items, &o.Items}, {checkoutItems, &o.CheckoutItems}, {holds, &o.Holds}, {unknown, &o.UnknownProducts},
		{mismatched, &o.MismatchedPayments}, {refunds, &o.MismatchRefunds}, {told, &o.SalesTold}, {owner, &o.RefundsRequested}} {
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
	if fraud != "" {
		o.FraudWarning = &caisse.FraudWarning{}
		if err := json.Unmarshal([]byte(fraud), o.FraudWarning); err != nil {
			return nil, fmt.Errorf("order %s: %w", o.ID, err)
		}
	}
	if shipment != "" {
		o.Shipment = &caisse.Shipment{}
		if err := json.Unmarshal([]byte(shipment), o.Shipment); err != nil {
			return nil, fmt.Errorf("order %s: %w", o.ID, err)
		}
	}
	if shipping != "" {
		o.Shipping = &caisse.Shipping{}
		if err := json.Unmarshal([]byte(shipping), o.Shipping); err != nil {
			return nil, fmt.Errorf("order %s: %w", o.ID, err)
		}
	}
	if o.Items == nil {
		o.Items = []caisse.Line{}
	}
	o.Customer.Email = o.CustomerEmail
	if o.RefundsRequested == nil {
		o.RefundsRequested = []caisse.OwnerRefund{}
	}
	for _, l := range []*[]string{&o.UnknownProducts, &o.MismatchedPayments, &o.MismatchRefunds} {
		if *l == nil {
			*l = []string{}
		}
	}
	o.CreatedAt, o.UpdatedAt = fromMicros(created), fromMicros(updated)
	if expires != 0 {
		o.CheckoutExpiresAt = fromMicros(expires)
	}
	return &o, nil
}

func findOrderRecord(ctx context.Context, q Querier, id string) (*caisse.OrderRecord, error) {
	o, err := scanOrder(q.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders WHERE id = ?`, id))
	if errors.Is(err, ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("error reading order %s: %w", id, err)
	}
	return o, nil
}

func expiresMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

// jsonList writes a list as JSON text, [] when empty.
func jsonList(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain data is marshalled here
	}
	if string(b) == "null" {
		return "[]"
	}
	return string(b)
}

// stockMoves writes a timeline entry's stock moves as a JSON list, or ""
// when it moved none (as the rows written before moves were recorded).
func stockMoves(moves []caisse.StockMove) string {
	if len(moves) == 0 {
		return ""
	}
	return jsonList(moves)
}

// orderWidth is how many values orderValues gives: one per orderColumns.
const orderWidth = 45

// orderValues are an order's values in orderColumns' order.
func orderValues(o *caisse.OrderRecord) []any {
	dispute := ""
	if o.Dispute != nil {
		b, _ := json.Marshal(o.Dispute)
		dispute = string(b)
	}
	fraud := ""
	if o.FraudWarning != nil {
		b, _ := json.Marshal(o.FraudWarning)
		fraud = string(b)
	}
	shipment := ""
	if o.Shipment != nil {
		b, _ := json.Marshal(o.Shipment)
		shipment = string(b)
	}
	shipping := ""
	if !o.Shipping.IsZero() {
		b, _ := json.Marshal(o.Shipping)
		shipping = string(b)
	}
	return []any{o.ID, string(o.Status), jsonList(o.Items), jsonList(o.CheckoutItems), o.CheckoutOpen, jsonList(o.Holds),
		o.Currency, o.AmountTotal, o.AmountPaid, o.AmountRefunded, o.CustomerEmail, o.CheckoutSession,
		o.PaymentIntent, o.PaymentError, dispute, o.Oversold, jsonList(o.UnknownProducts), o.ItemsError,
		micros(o.CreatedAt), micros(o.UpdatedAt), expiresMicros(o.CheckoutExpiresAt), o.OversoldRefund,
		o.AmountDue, o.Livemode, o.PaymentMismatch, jsonList(o.MismatchedPayments), jsonList(o.MismatchRefunds),
		o.CheckoutTerms.AmountDue, o.CheckoutTerms.Currency, o.CheckoutTerms.Livemode, o.Locale,
		o.Customer.Name, o.Customer.Phone, o.FailedAttempts, jsonList(o.SalesTold), o.CheckoutURL, o.StripeCustomer,
		fraud, o.FraudRefund, shipping, o.AmountShipping, o.AmountTax, o.AmountDiscount, shipment, jsonList(o.RefundsRequested)}
}

// upsertOrders is the statement that creates or replaces the orders whose
// values are given as rows ("(?, …), (?, …)", orderWidth values each).
func upsertOrders(rows string) string {
	return `INSERT INTO orders (` + orderColumns + `) VALUES ` + rows + `
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, items = excluded.items,
			checkout_items = excluded.checkout_items, checkout_open = excluded.checkout_open,
			holds = excluded.holds, currency = excluded.currency, amount_total = excluded.amount_total,
			amount_paid = excluded.amount_paid, amount_refunded = excluded.amount_refunded,
			customer_email = excluded.customer_email, checkout_session = excluded.checkout_session,
			payment_intent = excluded.payment_intent, payment_error = excluded.payment_error,
			dispute = excluded.dispute, oversold = excluded.oversold,
			unknown_products = excluded.unknown_products, items_error = excluded.items_error,
			updated_at = excluded.updated_at, checkout_expires_at = excluded.checkout_expires_at,
			oversold_refund = excluded.oversold_refund, amount_due = excluded.amount_due,
			livemode = excluded.livemode, payment_mismatch = excluded.payment_mismatch,
			mismatched_payments = excluded.mismatched_payments, mismatch_refunds = excluded.mismatch_refunds,
			checkout_amount_due = excluded.checkout_amount_due, checkout_currency = excluded.checkout_currency,
			checkout_livemode = excluded.checkout_livemode, locale = excluded.locale,
			customer_name = excluded.customer_name, customer_phone = excluded.customer_phone,
			failed_attempts = excluded.failed_attempts, sales_told = excluded.sales_told,
			checkout_url = excluded.checkout_url, stripe_customer = excluded.stripe_customer,
			fraud_warning = excluded.fraud_warning, fraud_refund = excluded.fraud_refund,
			shipping = excluded.shipping, amount_shipping = excluded.amount_shipping,
			amount_tax = excluded.amount_tax, amount_discount = excluded.amount_discount,
			shipment = excluded.shipment, refunds_requested = excluded.refunds_requested`
}

// FindOrder returns an order with its timeline.
func (s *Store) FindOrder(ctx context.Context, id string) (*caisse.Order, error) {
	r := s.Driver.Reader()
	rec, err := findOrderRecord(ctx, r, id)
	if err != nil {
		return nil, err
	} else if rec == nil {
		return nil, caisse.Errorf(caisse.ENOTFOUND, "no order %s", id)
	}
	o := rec.Order
	rows, err := r.Query(ctx, `
		SELECT at, event_id, type, from_status, to_status, stock, note FROM order_timeline WHERE order_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("error reading the timeline of order %s: %w", id, err)
	}
	defer rows.Close()
	o.Timeline = []caisse.TimelineEntry{}
	for rows.Next() {
		var e caisse.TimelineEntry
		var at int64
		var from, to, stock string
		if err := rows.Scan(&at, &e.EventID, &e.Type, &from, &to, &stock, &e.Note); err != nil {
			return nil, fmt.Errorf("error reading the timeline of order %s: %w", id, err)
		}
		if stock != "" {
			if err := json.Unmarshal([]byte(stock), &e.Stock); err != nil {
				return nil, fmt.Errorf("error reading the timeline of order %s: its stock moves: %w", id, err)
			}
		}
		e.At, e.From, e.To = fromMicros(at), caisse.OrderStatus(from), caisse.OrderStatus(to)
		o.Timeline = append(o.Timeline, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if o.Books, err = s.OrderBooks(ctx, id); err != nil {
		return nil, err
	}
	return &o, nil
}

// orderQuery is the condition that keeps the orders a search finds: the
// order with this id, and those whose checkout session or payment intent
// it is, found through indexes (the facts name both, and an open caisse
// checkout, which has no facts yet, is among the few open checkouts); or,
// for an address (only an address holds an @), those of that customer in
// any case, which reads every order.
func orderQuery(q string) (string, []any) {
	if strings.Contains(q, "@") {
		return " AND (id = ? OR lower(customer_email) = lower(?))", []any{q, q}
	}
	// One IN list at the top of the condition, which both databases read
	// as a join on the orders' id index; ORs of IN lists scan the orders.
	return ` AND id IN (SELECT CAST(? AS TEXT)
		UNION SELECT order_id FROM facts WHERE id = ? OR payment_intent = ?
		UNION SELECT id FROM orders WHERE checkout_open = ? AND checkout_session = ?)`, []any{q, q, q, true, q}
}

// FindOrders lists orders, newest first. The list leaves out timelines.
func (s *Store) FindOrders(ctx context.Context, filter caisse.OrderFilter) ([]*caisse.Order, bool, error) {
	if err := filter.Normalize(); err != nil {
		return nil, false, err
	}
	r := s.Driver.Reader()
	where, args := "WHERE 1=1", []any{}
	switch filter.Status {
	case "":
	case caisse.FlagOversold:
		where += " AND oversold = TRUE"
	case caisse.FlagPaymentMismatch:
		where += " AND payment_mismatch = TRUE"
	case caisse.FlagFailedAttempts:
		where += " AND failed_attempts > 0"
	case caisse.FlagToShip:
		// A disputed order's status is disputed; one whose dispute the
		// shop won is paid again, and ships.
		where += " AND status IN (?, ?) AND shipment = '' AND oversold = FALSE AND payment_mismatch = FALSE"
		args = append(args, string(caisse.StatusPaid), string(caisse.StatusPartiallyRefunded))
	default:
		where += " AND status = ?"
		args = append(args, string(filter.Status))
	}
	if q := strings.TrimSpace(filter.Query); q != "" {
		w, a := orderQuery(q)
		where += w
		args = append(args, a...)
	}
	// The orders to ship come oldest first: the first paid ships first.
	before, order := "<", "DESC"
	if filter.Status == caisse.FlagToShip {
		before, order = ">", "ASC"
	}
	if filter.StartingAfter != "" {
		seq, err := seqOf(ctx, r, "orders", "order", filter.StartingAfter)
		if err != nil {
			return nil, false, err
		}
		where += " AND seq " + before + " ?"
		args = append(args, seq)
	}
	return list(ctx, r, "order", filter.Limit, `SELECT `+orderColumns+` FROM orders `+where+` ORDER BY seq `+order+` LIMIT ?`, args,
		func(row Row) (*caisse.Order, error) {
			rec, err := scanOrder(row)
			if err != nil {
				return nil, err
			}
			return &rec.Order, nil
		})
}

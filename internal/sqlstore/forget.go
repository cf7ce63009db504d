package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caisse/caisse"
)

var _ caisse.CustomerService = (*Store)(nil)

// forgetNote is what an outbox row to a forgotten customer says, in place
// of what it said.
const forgetNote = "the customer's personal data was erased"

// ForgetCustomer erases the personal data of the customer with this
// address, matched in any case: from their orders (name, address, phone,
// where the order goes), the facts about their Stripe objects, the outbox
// rows to them or about their orders, and the stored payloads of the
// events about those objects, all in one transaction.
func (s *Store) ForgetCustomer(ctx context.Context, email string) (*caisse.Forgotten, error) {
	email, err := caisse.ValidForgetEmail(email)
	if err != nil {
		return nil, err
	}
	var out *caisse.Forgotten
	err = s.RetryTx(ctx, func(tx Tx) error {
		var err error
		out, err = s.forget(ctx, tx, email, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("error forgetting a customer: %w", err)
	}
	out.Email = email
	return out, nil
}

// ForgetOrdersBefore erases the personal data of at most limit orders
// created before cutoff that still hold some, in one transaction.
func (s *Store) ForgetOrdersBefore(ctx context.Context, cutoff time.Time, limit int) (*caisse.Forgotten, error) {
	var out *caisse.Forgotten
	err := s.RetryTx(ctx, func(tx Tx) error {
		ids, err := queryStrings(ctx, tx, `SELECT id FROM orders WHERE created_at < ?
			AND (customer_email <> '' OR customer_name <> '' OR customer_phone <> '' OR shipping <> '' OR stripe_customer <> '')
			ORDER BY created_at LIMIT ?`, micros(cutoff), limit)
		if err != nil {
			return err
		}
		out, err = s.forget(ctx, tx, "", ids)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("error forgetting the customers of orders before %s: %w", cutoff.Format(time.RFC3339), err)
	}
	return out, nil
}

// likeEscape makes s a literal in a LIKE pattern with ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// forget erases, in tx, the personal data of the customer with this
// address (when email is set) and of the orders named.
func (s *Store) forget(ctx context.Context, tx Tx, email string, orderIDs []string) (*caisse.Forgotten, error) {
	out := &caisse.Forgotten{Orders: []string{}}
	orders := map[string]bool{}
	for _, id := range orderIDs {
		orders[id] = true
	}
	facts := map[string]bool{}
	if email != "" {
		ids, err := queryStrings(ctx, tx, `SELECT id FROM orders WHERE lower(customer_email) = lower(?)`, email)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			orders[id] = true
		}
		// Facts hold the address as JSON text: a fact about an object of
		// theirs that is linked to no order yet, or to an order whose
		// customer is someone else (they paid someone else's order). Those
		// facts, and their events, are erased; the other person's order
		// is not.
		fids, err := queryStrings(ctx, tx, `SELECT id FROM facts WHERE lower(data) LIKE ? ESCAPE '\'`,
			"%"+likeEscape(strings.ToLower(email))+"%")
		if err != nil {
			return nil, err
		}
		for _, id := range fids {
			facts[id] = true
		}
	}
	ids := sortedKeys(orders)
	for chunk := range slices.Chunk(ids, maxParams) {
		fids, err := queryStrings(ctx, tx, `SELECT id FROM facts WHERE order_id IN (`+placeholders(len(chunk))+`)`, anys(chunk)...)
		if err != nil {
			return nil, err
		}
		for _, id := range fids {
			facts[id] = true
		}
	}
	factIDs := sortedKeys(facts)
	// The applier takes these locks before it reads an order or a fact: an
	// event applied meanwhile waits, and cannot write back what it read
	// before the erasure.
	keys := slices.Clone(factIDs)
	for _, id := range ids {
		keys = append(keys, "order:"+id)
	}
	if err := tx.Lock(ctx, keys...); err != nil {
		return nil, err
	}

	// What names the person, to find it where no key says so (metadata, a
	// description, a delivery's error).
	emails := []string{}
	if email != "" {
		emails = append(emails, email)
	}
	var values []string
	for chunk := range slices.Chunk(ids, maxParams) {
		rows, err := tx.Query(ctx, `SELECT `+orderColumns+` FROM orders WHERE id IN (`+placeholders(len(chunk))+`)`, anys(chunk)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			o, err := scanOrder(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			if o.CustomerEmail != "" {
				emails = append(emails, o.CustomerEmail)
			}
			values = append(values, caisse.PersonalValues(o.Customer, o.Shipping)...)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	type factRow struct {
		id   string
		fact caisse.Fact
	}
	var factRows []factRow
	objects := map[string]bool{}
	for chunk := range slices.Chunk(factIDs, maxParams) {
		rows, err := tx.Query(ctx, `SELECT id, data FROM facts WHERE id IN (`+placeholders(len(chunk))+`)`, anys(chunk)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var r factRow
			var data string
			if err := rows.Scan(&r.id, &data); err != nil {
				rows.Close()
				return nil, err
			}
			if err := json.Unmarshal([]byte(data), &r.fact); err != nil {
				rows.Close()
				return nil, fmt.Errorf("the fact about %s: %w", r.id, err)
			}
			f := r.fact
			if f.CustomerEmail != "" {
				emails = append(emails, f.CustomerEmail)
			}
			values = append(values, caisse.PersonalValues(caisse.Customer{Name: f.CustomerName, Phone: f.CustomerPhone}, f.Shipping)...)
			objects[r.id] = true
			factRows = append(factRows, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}

	// The facts: the customer goes, the amounts and flags stay.
	for _, r := range factRows {
		if !r.fact.Forget() {
			continue
		}
		b, err := json.Marshal(r.fact)
		if err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, `UPDATE facts SET data = ? WHERE id = ?`, string(b), r.id); err != nil {
			return nil, err
		}
		out.Facts++
	}

	// The orders.
	for chunk := range slices.Chunk(ids, maxParams) {
		n, err := tx.Exec(ctx, `UPDATE orders SET customer_email = '', customer_name = '', customer_phone = '', shipping = '',
			stripe_customer = '' WHERE id IN (`+placeholders(len(chunk))+`)`, anys(chunk)...)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			out.Orders = append(out.Orders, chunk...)
		}
	}

	// The events about their objects, redacted in place: the id stays (a
	// late duplicate is still one), the amounts stay (the books).
	n, err := s.redactEvents(ctx, tx, sortedKeys(objects), ids, emails, values)
	if err != nil {
		return nil, err
	}
	out.Events = n

	// The outbox: the rows about these orders, and any row to the address.
	n, err = s.forgetDeliveries(ctx, tx, ids, email, emails, values)
	if err != nil {
		return nil, err
	}
	out.Deliveries = n
	slices.Sort(out.Orders)
	return out, nil
}

// redactEvents redacts the stored payloads of the events about these
// Stripe objects and of those on these orders' timelines, and returns how
// many changed.
func (s *Store) redactEvents(ctx context.Context, tx Tx, objects, orderIDs, emails, values []string) (int, error) {
	type payload struct {
		id   string
		body []byte
	}
	var found []payload
	seen := map[string]bool{}
	// Kept to id and payload, the columns every layout of the events
	// table has.
	read := func(where string, args []any) error {
		rows, err := tx.Query(ctx, `SELECT id, payload FROM events WHERE `+where, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p payload
			if err := rows.Scan(&p.id, &p.body); err != nil {
				return err
			}
			if !seen[p.id] {
				seen[p.id] = true
				found = append(found, p)
			}
		}
		return rows.Err()
	}
	for chunk := range slices.Chunk(objects, maxParams) {
		if err := read(`object_id IN (`+placeholders(len(chunk))+`)`, anys(chunk)); err != nil {
			return 0, err
		}
	}
	for chunk := range slices.Chunk(orderIDs, maxParams) {
		if err := read(`id IN (SELECT event_id FROM order_timeline WHERE order_id IN (`+placeholders(len(chunk))+`))`, anys(chunk)); err != nil {
			return 0, err
		}
	}
	changed := 0
	for _, p := range found {
		body, ok, err := caisse.RedactPayload(p.body, emails, values)
		if err != nil {
			return 0, fmt.Errorf("event %s: %w", p.id, err)
		}
		if !ok {
			continue
		}
		if _, err := tx.Exec(ctx, `UPDATE events SET payload = ? WHERE id = ?`, body, p.id); err != nil {
			return 0, err
		}
		changed++
	}
	return changed, nil
}

// forgetDeliveries erases the customer from the outbox rows about these
// orders and from the rows to their address: the address goes, a customer
// email not sent yet is skipped (there is no one to send it to any more),
// and the details and errors that name them are cleared. It returns how
// many rows changed.
func (s *Store) forgetDeliveries(ctx context.Context, tx Tx, orderIDs []string, email string, emails, values []string) (int, error) {
	type row struct {
		id, channel, topic, recipient, payload, status, lastError string
	}
	var found []row
	read := func(where string, args ...any) error {
		rows, err := tx.Query(ctx, `SELECT id, channel, topic, recipient, payload, status, last_error FROM outbox WHERE `+where, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.channel, &r.topic, &r.recipient, &r.payload, &r.status, &r.lastError); err != nil {
				return err
			}
			found = append(found, r)
		}
		return rows.Err()
	}
	for chunk := range slices.Chunk(orderIDs, maxParams) {
		if err := read(`order_id IN (`+placeholders(len(chunk))+`)`, anys(chunk)...); err != nil {
			return 0, err
		}
	}
	if email != "" {
		if err := read(`lower(recipient) = lower(?)`, email); err != nil {
			return 0, err
		}
	}
	lowered := make([]string, 0, len(emails))
	for _, e := range emails {
		lowered = append(lowered, strings.ToLower(e))
	}
	seen := map[string]bool{}
	changed := 0
	for _, r := range found {
		if seen[r.id] {
			continue
		}
		seen[r.id] = true
		toThem := slices.Contains(lowered, strings.ToLower(r.recipient))
		customer := r.channel == string(caisse.ChannelEmail) && caisse.CustomerTopic(r.topic)
		recipient, status, lastError := r.recipient, r.status, r.lastError
		if toThem || (customer && r.recipient != "") {
			recipient = ""
		}
		if (toThem || customer) && status == string(caisse.DeliveryPending) {
			status, lastError = string(caisse.DeliverySkipped), forgetNote
		}
		if lastError != forgetNote && personalText(lastError, lowered, values) {
			lastError = forgetNote
		}
		payload, ok, err := caisse.RedactPayload([]byte(r.payload), emails, values)
		if err != nil {
			return 0, fmt.Errorf("delivery %s: %w", r.id, err)
		}
		if !ok && recipient == r.recipient && status == r.status && lastError == r.lastError {
			continue
		}
		if _, err := tx.Exec(ctx, `UPDATE outbox SET recipient = ?, payload = ?, status = ?, last_error = ?, lease_until = 0 WHERE id = ?`,
			recipient, string(payload), status, lastError, r.id); err != nil {
			return 0, err
		}
		changed++
	}
	return changed, nil
}

// personalText reports whether a text names the person: one of their
// addresses, or one of their other values, within it.
func personalText(s string, emails, values []string) bool {
	l := strings.ToLower(s)
	for _, e := range emails {
		if e != "" && strings.Contains(l, e) {
			return true
		}
	}
	for _, v := range values {
		if v = strings.ToLower(strings.TrimSpace(v)); len(v) > 2 && strings.Contains(l, v) {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

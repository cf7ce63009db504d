package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/caisse/caisse"
)

// maxAlertWait bounds how long a storm of alerts of one cause is gathered
// before it goes out.
const maxAlertWait = time.Minute

// addOutbox writes a message's rows, one per recipient, in tx. A row whose
// key exists is not written again.
func (s *Store) addOutbox(ctx context.Context, tx Tx, now time.Time, m caisse.OutboxMessage) error {
	return s.writeOutbox(ctx, tx, now, []caisse.OutboxMessage{m})
}

// writeOutbox writes messages' rows in tx, with one statement for all of
// them (more only for very many). A row whose key exists is not written
// again.
func (s *Store) writeOutbox(ctx context.Context, tx Tx, now time.Time, msgs []caisse.OutboxMessage) error {
	var rows []caisse.OutboxRow
	for i := range msgs {
		r, err := s.Outbox.Rows(now, &msgs[i])
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	// A message written twice in one batch (two events of one payment)
	// is one row.
	seen := map[string]bool{}
	rows = slices.DeleteFunc(rows, func(r caisse.OutboxRow) bool {
		dup := seen[r.Key]
		seen[r.Key] = true
		return dup
	})
	payloads := map[*caisse.OutboxMessage]string{}
	for _, r := range rows {
		if _, ok := payloads[r.Message]; ok {
			continue
		}
		payload := []byte("{}")
		if r.Message.Payload != nil {
			var err error
			if payload, err = json.Marshal(r.Message.Payload); err != nil {
				return err
			}
		}
		payloads[r.Message] = string(payload)
	}
	inserted := map[string]bool{}
	err := rowsOf(len(rows), 13, func(from, to int, values string) error {
		args := make([]any, 0, 13*(to-from))
		for _, r := range rows[from:to] {
			m := r.Message
			args = append(args, caisse.DeliveryID(r.Key), r.Key, string(m.Channel), m.Topic, r.Recipient, m.OrderID, m.ProductID,
				m.EventID, payloads[m], string(r.Status), r.LastError, micros(now), micros(r.Due))
		}
		res, err := tx.Query(ctx, `
			INSERT INTO outbox (id, key, channel, topic, recipient, order_id, product_id, event_id, payload, status, last_error,
				created_at, next_attempt_at)
			VALUES `+values+`
			ON CONFLICT (key) DO NOTHING
			RETURNING key`, args...)
		if err != nil {
			return fmt.Errorf("error writing outbox messages: %w", err)
		}
		defer res.Close()
		for res.Next() {
			var key string
			if err := res.Scan(&key); err != nil {
				return fmt.Errorf("error writing outbox messages: %w", err)
			}
			inserted[key] = true
		}
		return res.Err()
	})
	if err != nil {
		return err
	}
	type cause struct{ topic, recipient string }
	gathered := map[cause]bool{}
	for _, r := range rows {
		if !inserted[r.Key] {
			continue
		}
		m := r.Message
		if m.Channel != caisse.ChannelStripe && r.Status == caisse.DeliveryPending {
			// Something to send: the dispatcher is woken at commit. A
			// skipped row (no SMTP) has nothing to send.
			s.wroteOutbox.Store(true)
		}
		if m.Channel == caisse.ChannelAlert && s.Outbox.AlertDelay > 0 && !gathered[cause{m.Topic, r.Recipient}] {
			gathered[cause{m.Topic, r.Recipient}] = true
			// Alerts of one cause wait together: each new one puts off those
			// not yet tried, so a storm goes out as one message once it has
			// been quiet for AlertDelay, or after maxAlertWait at the most.
			if _, err := tx.Exec(ctx, `UPDATE outbox SET next_attempt_at = ?
				WHERE status = ? AND channel = ? AND topic = ? AND recipient = ? AND attempts = 0 AND created_at > ?`,
				micros(r.Due), string(caisse.DeliveryPending), string(caisse.ChannelAlert), m.Topic, r.Recipient,
				micros(now.Add(-maxAlertWait))); err != nil {
				return fmt.Errorf("error gathering the alerts of %s: %w", m.Topic, err)
			}
		}
		// A request to Stripe is made by a job inserted with its message, so
		// it is made if and only if the decision to make it commits.
		if m.Channel == caisse.ChannelStripe {
			var args river.JobArgs
			switch m.Topic {
			case caisse.KindRefundOversold:
				args = RefundOversoldArgs{OrderID: m.OrderID}
			case caisse.KindRefundMismatch:
				pi, _ := m.Payload["payment_intent"].(string)
				args = RefundMismatchArgs{OrderID: m.OrderID, PaymentIntent: pi}
			case caisse.KindRefundFraud:
				pi, _ := m.Payload["payment_intent"].(string)
				charge, _ := m.Payload["charge"].(string)
				args = RefundFraudArgs{OrderID: m.OrderID, PaymentIntent: pi, Charge: charge, Key: m.Key}
			case caisse.KindShipmentTracking:
				args = ShipmentTrackingArgs{OrderID: m.OrderID, Key: m.Key}
			case caisse.KindRefundOwner:
				id, _ := m.Payload["refund"].(string)
				args = RefundOwnerArgs{OrderID: m.OrderID, Refund: id, Key: m.Key}
			}
			if args != nil {
				if err := tx.Insert(ctx, []river.InsertManyParams{{Args: args}}); err != nil {
					return fmt.Errorf("error queueing the %s request of order %s: %w", m.Topic, m.OrderID, err)
				}
			}
		}
	}
	return nil
}

// WriteOutbox writes messages in a transaction of their own: alerts that no
// event causes (a burst of bad signatures, a long silence, a failed
// delivery).
func (s *Store) WriteOutbox(ctx context.Context, msgs ...caisse.OutboxMessage) error {
	err := s.RetryTx(ctx, func(tx Tx) error {
		return s.writeOutbox(ctx, tx, s.now(), msgs)
	})
	if err == nil {
		s.WakeOutbox()
	}
	return err
}

const deliveryColumns = `id, channel, topic, recipient, order_id, product_id, event_id, status, attempts, last_error,
	created_at, delivered_at, next_attempt_at, payload`

func scanDelivery(row Row) (*caisse.Delivery, error) {
	var d caisse.Delivery
	var channel, status, payload string
	var created, next int64
	var delivered *int64
	if err := row.Scan(&d.ID, &channel, &d.Topic, &d.Recipient, &d.OrderID, &d.ProductID, &d.EventID, &status, &d.Attempts,
		&d.LastError, &created, &delivered, &next, &payload); err != nil {
		return nil, err
	}
	d.Channel, d.Status, d.CreatedAt = caisse.Channel(channel), caisse.DeliveryStatus(status), fromMicros(created)
	if delivered != nil {
		t := fromMicros(*delivered)
		d.DeliveredAt = &t
	}
	if d.Status == caisse.DeliveryPending && next > 0 {
		t := fromMicros(next)
		d.NextAttemptAt = &t
	}
	if err := json.Unmarshal([]byte(payload), &d.Payload); err != nil {
		return nil, fmt.Errorf("delivery %s: %w", d.ID, err)
	}
	return &d, nil
}

// FindDelivery returns one delivery.
func (s *Store) FindDelivery(ctx context.Context, id string) (*caisse.Delivery, error) {
	d, err := scanDelivery(s.Driver.Reader().QueryRow(ctx, `SELECT `+deliveryColumns+` FROM outbox WHERE id = ?`, id))
	if errors.Is(err, ErrNoRows) {
		return nil, caisse.Errorf(caisse.ENOTFOUND, "no delivery %s", id)
	} else if err != nil {
		return nil, fmt.Errorf("error reading delivery %s: %w", id, err)
	}
	return d, nil
}

// FindDeliveries lists deliveries, newest first.
func (s *Store) FindDeliveries(ctx context.Context, f caisse.DeliveryFilter) ([]*caisse.Delivery, bool, error) {
	if err := f.Normalize(); err != nil {
		return nil, false, err
	}
	r := s.Driver.Reader()
	where, args := "WHERE 1=1", []any{}
	if f.Status != "" {
		where += " AND status = ?"
		args = append(args, string(f.Status))
	}
	if f.Channel != "" {
		where += " AND channel = ?"
		args = append(args, string(f.Channel))
	}
	if f.OrderID != "" {
		where += " AND order_id = ?"
		args = append(args, f.OrderID)
	}
	if f.StartingAfter != "" {
		seq, err := seqOf(ctx, r, "outbox", "delivery", f.StartingAfter)
		if err != nil {
			return nil, false, err
		}
		where += " AND seq < ?"
		args = append(args, seq)
	}
	return list(ctx, r, "delivery", f.Limit, `SELECT `+deliveryColumns+` FROM outbox `+where+` ORDER BY seq DESC LIMIT ?`, args, scanDelivery)
}

// RetryDelivery puts a failed (or skipped) delivery back to be sent now,
// with its attempts counted from zero again.
func (s *Store) RetryDelivery(ctx context.Context, id string) (*caisse.Delivery, error) {
	err := s.RetryTx(ctx, func(tx Tx) error {
		var channel, status string
		err := tx.QueryRow(ctx, `SELECT channel, status FROM outbox WHERE id = ?`, id).Scan(&channel, &status)
		if errors.Is(err, ErrNoRows) {
			return caisse.Errorf(caisse.ENOTFOUND, "no delivery %s", id)
		} else if err != nil {
			return err
		}
		switch {
		case channel == string(caisse.ChannelStripe):
			return caisse.Errorf(caisse.ECONFLICT, "delivery %s is a request to Stripe, which its own job retries: see the order", id)
		case status == string(caisse.DeliveryDelivered):
			return caisse.Errorf(caisse.ECONFLICT, "delivery %s was delivered already", id)
		case status == string(caisse.DeliveryPending):
			return nil // it is sent soon anyway
		}
		_, err = tx.Exec(ctx, `UPDATE outbox SET status = ?, attempts = 0, next_attempt_at = ?, lease_until = 0 WHERE id = ?`,
			string(caisse.DeliveryPending), micros(s.now()), id)
		return err
	})
	if err != nil {
		return nil, wrap(err, "error retrying delivery %s", id)
	}
	s.WakeOutbox()
	return s.FindDelivery(ctx, id)
}

// RetryFailedDeliveries puts every failed delivery back to be sent now and
// returns their ids.
func (s *Store) RetryFailedDeliveries(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.RetryTx(ctx, func(tx Tx) error {
		var err error
		ids, err = queryStrings(ctx, tx, `SELECT id FROM outbox WHERE status = ? AND channel <> ? ORDER BY seq`,
			string(caisse.DeliveryFailed), string(caisse.ChannelStripe))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE outbox SET status = ?, attempts = 0, next_attempt_at = ?, lease_until = 0
			WHERE status = ? AND channel <> ?`, string(caisse.DeliveryPending), micros(s.now()),
			string(caisse.DeliveryFailed), string(caisse.ChannelStripe))
		return err
	})
	if err != nil {
		return nil, wrap(err, "error retrying failed deliveries")
	}
	s.WakeOutbox()
	return ids, nil
}

// DueChannels returns the channels that have rows to send now, in one
// statement: a look per channel at the status index, which stops at the
// first due row. Rows to the recipients in busy[channel] do not count: their
// lanes are full, and their rows wait without being looked at again.
func (s *Store) DueChannels(ctx context.Context, now time.Time, busy map[caisse.Channel][]string) ([]caisse.Channel, error) {
	var parts []string
	var args []any
	var channels []caisse.Channel
	for _, c := range caisse.Channels {
		if c == caisse.ChannelStripe {
			continue // refunds are jobs of their own
		}
		skip, skipArgs := notRecipients(busy[c])
		parts = append(parts, `SELECT ? WHERE EXISTS (SELECT 1 FROM outbox WHERE status = ? AND channel = ? AND next_attempt_at <= ? AND lease_until < ?`+skip+`)`)
		args = append(args, string(c), string(caisse.DeliveryPending), string(c), micros(now), micros(now))
		args = append(args, skipArgs...)
		channels = append(channels, c)
	}
	rows, err := s.Driver.Reader().Query(ctx, strings.Join(parts, " UNION ALL "), args...)
	if err != nil {
		return nil, fmt.Errorf("error looking for deliveries to send: %w", err)
	}
	defer rows.Close()
	due := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("error looking for deliveries to send: %w", err)
		}
		due[c] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("error looking for deliveries to send: %w", err)
	}
	var out []caisse.Channel
	for _, c := range channels {
		if due[string(c)] {
			out = append(out, c)
		}
	}
	return out, nil
}

// notRecipients is the condition that leaves out rows to these recipients.
func notRecipients(recipients []string) (string, []any) {
	if len(recipients) == 0 {
		return "", nil
	}
	return ` AND recipient NOT IN (` + placeholders(len(recipients)) + `)`, anys(recipients)
}

// ClaimDeliveries leases up to limit rows of a channel that are due, until
// leaseUntil, and returns them oldest first, leaving out the rows to the
// recipients in busy. A leased row is not claimed by another instance (or
// this one) until its lease ends; the instance that holds it keeps it
// (KeepLeases) for as long as it sends it, so a row is taken over only from
// an instance that is gone.
func (s *Store) ClaimDeliveries(ctx context.Context, channel caisse.Channel, now, leaseUntil time.Time, limit int, busy []string) ([]*caisse.Delivery, error) {
	var out []*caisse.Delivery
	err := s.RetryTx(ctx, func(tx Tx) error {
		out = out[:0]
		skip, skipArgs := notRecipients(busy)
		query := `SELECT ` + deliveryColumns + ` FROM outbox
			WHERE status = ? AND channel = ? AND next_attempt_at <= ? AND lease_until < ?` + skip
		args := append([]any{string(caisse.DeliveryPending), string(channel), micros(now), micros(now)}, skipArgs...)
		if channel == caisse.ChannelSanity {
			// A product whose availability is being sent already waits: the
			// update in flight must land before the next one is read.
			query += ` AND product_id NOT IN (SELECT product_id FROM outbox
				WHERE status = ? AND channel = ? AND lease_until >= ?)`
			args = append(args, string(caisse.DeliveryPending), string(channel), micros(now))
		}
		rows, err := tx.Query(ctx, query+` ORDER BY next_attempt_at, seq LIMIT ?`+tx.SkipLocked(), append(args, limit)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(out) == 0 {
			return err
		}
		ids := make([]string, len(out))
		for i, d := range out {
			ids[i] = d.ID
		}
		_, err = tx.Exec(ctx, `UPDATE outbox SET lease_until = ? WHERE id IN (`+placeholders(len(ids))+`)`,
			append([]any{micros(leaseUntil)}, anys(ids)...)...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("error claiming %s deliveries: %w", channel, err)
	}
	return out, nil
}

// KeepLeases extends to until the leases an instance holds, in one statement
// (more only for very many rows): held lists the rows under the lease each
// was last given. A row keeps its lease only while it still has that one:
// once it is finished, or taken over by another instance after its lease
// ended, it is left alone. It returns the rows whose lease was extended.
func (s *Store) KeepLeases(ctx context.Context, held map[time.Time][]string, until time.Time) (map[string]bool, error) {
	kept := map[string]bool{}
	type lease struct {
		until int64
		ids   []string
	}
	var leases []lease
	for t, ids := range held {
		for chunk := range slices.Chunk(ids, maxParams/2) {
			leases = append(leases, lease{micros(t), chunk})
		}
	}
	for len(leases) > 0 {
		// As many leases as fit in one statement's parameters.
		var conds []string
		args := []any{micros(until), string(caisse.DeliveryPending)}
		n := 0
		for len(leases) > 0 && (n == 0 || n+len(leases[0].ids) <= maxParams/2) {
			l := leases[0]
			leases = leases[1:]
			conds = append(conds, `(lease_until = ? AND id IN (`+placeholders(len(l.ids))+`))`)
			args = append(append(args, l.until), anys(l.ids)...)
			n += len(l.ids)
		}
		err := s.RetryTx(ctx, func(tx Tx) error {
			rows, err := tx.Query(ctx, `UPDATE outbox SET lease_until = ? WHERE status = ? AND (`+strings.Join(conds, " OR ")+`) RETURNING id`, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return err
				}
				kept[id] = true
			}
			return rows.Err()
		})
		if err != nil {
			return nil, fmt.Errorf("error keeping the leases of the deliveries being sent: %w", err)
		}
	}
	return kept, nil
}

// FinishDelivery records one attempt of a claimed row: its new status, the
// error of a failed attempt, and when a pending row is tried again. A row
// that is no longer pending (retried or finished by another instance
// meanwhile) is left as it is.
func (s *Store) FinishDelivery(ctx context.Context, id string, status caisse.DeliveryStatus, lastError, recipient string, next time.Time) error {
	now := s.now()
	var delivered any
	if status == caisse.DeliveryDelivered {
		delivered = micros(now)
	}
	if len(lastError) > 2000 {
		lastError = lastError[:2000]
	}
	var nextMicros int64
	if !next.IsZero() {
		nextMicros = micros(next)
	}
	err := s.RetryTx(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ?,
			delivered_at = COALESCE(?, delivered_at), next_attempt_at = ?, lease_until = 0,
			recipient = CASE WHEN recipient = '' THEN ? ELSE recipient END
			WHERE id = ? AND status = ?`,
			string(status), lastError, delivered, nextMicros, recipient, id, string(caisse.DeliveryPending))
		return err
	})
	if err != nil {
		return fmt.Errorf("error recording delivery %s: %w", id, err)
	}
	return nil
}

// PostponeDelivery hands a claimed row back to be tried at next, saying
// why, without counting an attempt.
func (s *Store) PostponeDelivery(ctx context.Context, id, why string, next time.Time) error {
	err := s.RetryTx(ctx, func(tx Tx) error {
		_, err := tx.Exec(ctx, `UPDATE outbox SET last_error = ?, next_attempt_at = ?, lease_until = 0 WHERE id = ? AND status = ?`,
			why, micros(next), id, string(caisse.DeliveryPending))
		return err
	})
	if err != nil {
		return fmt.Errorf("error putting delivery %s back to wait: %w", id, err)
	}
	return nil
}

// wakeAddressed makes the customer emails of these orders that wait for an
// address due now (after the email delay, so the rest of the customer's
// events can arrive too): their orders just got one.
func (s *Store) wakeAddressed(ctx context.Context, tx Tx, now time.Time, orderIDs []string) error {
	for chunk := range slices.Chunk(orderIDs, maxParams) {
		n, err := tx.Exec(ctx, `UPDATE outbox SET next_attempt_at = ?
			WHERE order_id IN (`+placeholders(len(chunk))+`) AND channel = ? AND status = ? AND recipient = '' AND next_attempt_at > ?`,
			append(append([]any{micros(now.Add(s.Outbox.EmailDelay))}, anys(chunk)...),
				string(caisse.ChannelEmail), string(caisse.DeliveryPending), micros(now.Add(s.Outbox.EmailDelay)))...)
		if err != nil {
			return fmt.Errorf("error waking the emails of orders that got an address: %w", err)
		}
		if n > 0 {
			s.wroteOutbox.Store(true)
		}
	}
	return nil
}

// FailRecipient fails every pending row to a recipient that is gone for
// good (an endpoint answering 410), and returns how many.
func (s *Store) FailRecipient(ctx context.Context, channel caisse.Channel, recipient, reason string) (int64, error) {
	var n int64
	err := s.RetryTx(ctx, func(tx Tx) error {
		var err error
		n, err = tx.Exec(ctx, `UPDATE outbox SET status = ?, last_error = ?, lease_until = 0
			WHERE status = ? AND channel = ? AND recipient = ?`,
			string(caisse.DeliveryFailed), reason, string(caisse.DeliveryPending), string(channel), recipient)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("error failing the deliveries to %s: %w", recipient, err)
	}
	return n, nil
}

// Notice reads what a delivery is about, as it is now: its order (as the
// admin API shows it), its product, and the names of the order's products.
func (s *Store) Notice(ctx context.Context, d caisse.Delivery) (caisse.Notice, error) {
	n := caisse.Notice{Delivery: d}
	if d.OrderID != "" {
		o, err := s.FindOrder(ctx, d.OrderID)
		if err != nil && caisse.ErrorCode(err) != caisse.ENOTFOUND {
			return n, err
		}
		n.Order = o
		if o != nil && d.Channel == caisse.ChannelEmail && caisse.CustomerTopic(d.Topic) {
			// The way back to the payment page, while the checkout is
			// open, and the Stripe customer the payment names.
			var open bool
			var expires int64
			var url string
			if err := s.Driver.Reader().QueryRow(ctx, `SELECT checkout_open, checkout_expires_at, checkout_url, stripe_customer FROM orders WHERE id = ?`,
				d.OrderID).Scan(&open, &expires, &url, &n.StripeCustomer); err != nil {
				return n, fmt.Errorf("error reading the checkout of order %s: %w", d.OrderID, err)
			}
			if open && url != "" && fromMicros(expires).After(s.now()) && d.Topic == caisse.TopicPaymentFailed {
				n.CheckoutURL = url
			}
		}
	}
	if d.ProductID != "" {
		p, err := s.FindProduct(ctx, d.ProductID)
		if err != nil && caisse.ErrorCode(err) != caisse.ENOTFOUND {
			return n, err
		}
		n.Product = p
	}
	if n.Order != nil && len(n.Order.Items) > 0 {
		ids := make([]string, 0, len(n.Order.Items))
		for _, it := range n.Order.Items {
			if !slices.Contains(ids, it.ProductID) {
				ids = append(ids, it.ProductID)
			}
		}
		rows, err := s.Driver.Reader().Query(ctx, `SELECT id, name FROM products WHERE id IN (`+placeholders(len(ids))+`)`, anys(ids)...)
		if err != nil {
			return n, fmt.Errorf("error reading the names of order %s's products: %w", d.OrderID, err)
		}
		defer rows.Close()
		n.ItemNames = map[string]string{}
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				return n, fmt.Errorf("error reading the names of order %s's products: %w", d.OrderID, err)
			}
			if name != "" {
				n.ItemNames[id] = name
			}
		}
		if err := rows.Err(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// PruneDeliveries deletes delivered and skipped rows older than before, and
// returns how many.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.RetryTx(ctx, func(tx Tx) error {
		var err error
		n, err = tx.Exec(ctx, `DELETE FROM outbox WHERE status IN (?, ?) AND created_at < ?`,
			string(caisse.DeliveryDelivered), string(caisse.DeliverySkipped), micros(before))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("error pruning old deliveries: %w", err)
	}
	return n, nil
}

// OutboxWake is signalled after a transaction wrote rows to send, so the
// dispatcher of this instance sends them at once rather than at its next poll.
func (s *Store) OutboxWake() <-chan struct{} { return s.outboxWake }

// WakeOutbox signals the dispatcher if rows were written since the last
// signal.
func (s *Store) WakeOutbox() {
	if s.wroteOutbox.Swap(false) {
		select {
		case s.outboxWake <- struct{}{}:
		default:
		}
	}
}

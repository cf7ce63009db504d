package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/stripe"
)

// send signs a payload with the configured secret and posts it to a running
// caisse: the offline twin of `stripe trigger`. It waits until caisse has
// processed the event and says what it did.
func (m *Main) send(ctx context.Context, args []string) error {
	c := m.command("send")
	var ex stripe.Example
	url := c.fs.String("url", "", "where to post (default http://$CAISSE_ADDR/webhooks/stripe)")
	noWait := c.fs.Bool("no-wait", false, "return once caisse has stored the event, without waiting for it to be processed")
	wait := c.fs.Duration("wait", 30*time.Second, "how long to wait for caisse to start answering and to process the event")
	c.fs.StringVar(&ex.Type, "example", "", "build an example event of this type: "+strings.Join(stripe.ExampleTypes, ", "))
	c.fs.StringVar(&ex.EventID, "event-id", "", "event id (default: a new one)")
	c.fs.StringVar(&ex.OrderID, "order", "", "order id (client_reference_id and metadata.order_id)")
	c.fs.StringVar(&ex.ProductID, "product", "", "product id in metadata.items")
	c.fs.Int64Var(&ex.Quantity, "quantity", 1, "quantity in metadata.items")
	c.fs.Int64Var(&ex.Amount, "amount", 0, "amount in the currency's smallest unit (cents: 90000 is 900.00 EUR)")
	c.fs.Int64Var(&ex.Refunded, "refunded", 0, "charge.refunded: cumulative amount refunded (default: all)")
	c.fs.StringVar(&ex.Currency, "currency", "", "currency (default eur)")
	c.fs.StringVar(&ex.PaymentIntent, "payment-intent", "", "payment intent id (default pi_ORDER)")
	c.fs.StringVar(&ex.Session, "session", "", "checkout session id (default cs_test_ORDER)")
	c.fs.StringVar(&ex.Charge, "charge", "", "charge id (default ch_ORDER)")
	c.fs.StringVar(&ex.Dispute, "dispute", "", "dispute id (default dp_ORDER)")
	c.fs.StringVar(&ex.DisputeStatus, "dispute-status", "", "dispute status: "+strings.Join(disputeStatuses, ", "))
	c.fs.BoolVar(&ex.Unpaid, "unpaid", false, "checkout.session.completed with payment_status unpaid")
	c.fs.BoolVar(&ex.Livemode, "livemode", false, "a live-mode event")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(c.cfg.WebhookSecrets) == 0 {
		return fmt.Errorf("STRIPE_WEBHOOK_SECRET is not set: send signs with the same secret the running caisse verifies with")
	}
	var payload []byte
	switch {
	case ex.Type != "" && len(pos) == 0:
		if err := checkExample(ex); err != nil {
			return err
		}
		if payload, err = stripe.Build(ex); err != nil {
			return err
		}
	case ex.Type == "" && len(pos) == 1:
		if payload, err = os.ReadFile(pos[0]); err != nil {
			return err
		}
	default:
		return fmt.Errorf("usage: caisse send FILE, or caisse send --example TYPE [--order ID --product ID --amount N ...]")
	}
	if *url == "" {
		*url = "http://" + c.cfg.Addr + "/webhooks/stripe"
	}
	ev, _ := stripe.DecodeEvent(payload)
	id, typ := "", ""
	if ev != nil {
		id, typ = ev.ID, ev.Type
	}
	// An event caisse has already is answered as a new one is: look first,
	// in the database if it is there yet.
	known := false
	if !*noWait && id != "" && c.openOnce(ctx) == nil {
		defer c.close()
		_, err := c.db.FindEvent(ctx, id)
		known = err == nil
	}
	status, body, err := postSigned(ctx, *url, payload, c.cfg.WebhookSecrets[0], *wait)
	if err != nil {
		return err
	}
	out := map[string]any{"event_id": id, "type": typ, "status": status, "response": body}
	if status/100 != 2 {
		_ = c.print(out, func(w *tabwriter.Writer) { fmt.Fprintf(w, "%s %s -> %d %s\n", typ, id, status, body) })
		return fmt.Errorf("caisse answered %d", status)
	}
	if *noWait || id == "" {
		return c.print(out, func(w *tabwriter.Writer) { fmt.Fprintf(w, "%s %s -> %d %s\n", typ, id, status, body) })
	}
	done, err := c.awaitProcessing(ctx, id, *wait)
	if err != nil {
		return fmt.Errorf("caisse stored %s, but its processing cannot be followed: %w (--no-wait skips this)", id, err)
	}
	done.Duplicate = known
	out["duplicate"] = known
	out["processing"] = done.Event.Status
	out["order"] = done.Event.OrderID
	out["changes"] = done.Changes
	out["last_error"] = done.Event.LastError
	if err := c.print(out, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "%s %s: %s\n", typ, id, done.describe())
	}); err != nil {
		return err
	}
	switch {
	case done.Duplicate:
	case done.Event.Status == caisse.EventFailed:
		return fmt.Errorf("event %s failed: %s", id, done.Event.LastError)
	case done.Event.Status == caisse.EventPending:
		return fmt.Errorf("event %s was not applied within --wait %s", id, *wait)
	}
	return nil
}

// disputeStatuses are the statuses Stripe gives a dispute.
var disputeStatuses = []string{"warning_needs_response", "warning_under_review", "warning_closed",
	"needs_response", "under_review", "won", "lost"}

// checkExample refuses an example event Stripe would never send.
func checkExample(ex stripe.Example) error {
	if !slices.Contains(stripe.ExampleTypes, ex.Type) {
		return fmt.Errorf("--example: no example for event type %q; use one of %s", ex.Type, strings.Join(stripe.ExampleTypes, ", "))
	}
	if ex.DisputeStatus != "" && !slices.Contains(disputeStatuses, ex.DisputeStatus) {
		return fmt.Errorf("--dispute-status %q: Stripe has no such status; use one of %s", ex.DisputeStatus, strings.Join(disputeStatuses, ", "))
	}
	if ex.DisputeStatus != "" && !strings.HasPrefix(ex.Type, "charge.dispute.") {
		return fmt.Errorf("--dispute-status only applies to charge.dispute.* events, not %s", ex.Type)
	}
	if ex.Amount < 0 || ex.Refunded < 0 || ex.Amount > caisse.MaxAmount {
		return fmt.Errorf("--amount and --refunded are in the currency's smallest unit, from 0 to %d", int64(caisse.MaxAmount))
	}
	if ex.Refunded != 0 && ex.Type != "charge.refunded" {
		return fmt.Errorf("--refunded only applies to charge.refunded, not %s", ex.Type)
	}
	if ex.Quantity < 1 || ex.Quantity > caisse.MaxItemQuantity {
		return fmt.Errorf("--quantity must be between 1 and %d", caisse.MaxItemQuantity)
	}
	if ex.Currency != "" && (len(ex.Currency) != 3 || strings.ToLower(ex.Currency) != strings.Trim(strings.ToLower(ex.Currency), "0123456789")) {
		return fmt.Errorf("--currency %q is not a currency code: use three letters such as eur or usd", ex.Currency)
	}
	if ex.Unpaid && ex.Type != "checkout.session.completed" {
		return fmt.Errorf("--unpaid only applies to checkout.session.completed, not %s", ex.Type)
	}
	return nil
}

// postSigned signs payload and posts it, trying again while nothing listens at
// url yet (a `caisse serve` still starting), for at most wait.
func postSigned(ctx context.Context, url string, payload []byte, secret string, wait time.Duration) (int, string, error) {
	deadline := time.Now().Add(wait)
	// A caisse that accepts the connection and never answers is given
	// wait, not for ever.
	client := &http.Client{Timeout: wait}
	for {
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
			Payload: payload, Secret: secret, Timestamp: time.Now(), Scheme: "v1",
		})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Stripe-Signature", signed.Header)
		res, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
			res.Body.Close()
			// A 503 is caisse starting or its database away: Stripe would retry.
			if res.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
				return res.StatusCode, strings.TrimSpace(string(body)), nil
			}
		} else if !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
			return 0, "", fmt.Errorf("cannot reach caisse at %s: %w (is `caisse serve` running?)", url, err)
		}
		select {
		case <-ctx.Done():
			return 0, "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// processed is what caisse did with one event.
type processed struct {
	Event   *caisse.Event
	Changes []change
	// Duplicate is an event caisse had received before this post.
	Duplicate bool
}

// change is one status change an event made to an order, with the stock it
// moved (each product's stock before and after).
type change struct {
	OrderID string        `json:"order_id"`
	From    string        `json:"from"`
	To      string        `json:"to"`
	Stock   []stockChange `json:"stock,omitempty"`
	// Note says what else the event did: a declined payment, an order
	// flagged oversold or payment_mismatch.
	Note string `json:"note,omitempty"`
}

type stockChange struct {
	ProductID string `json:"product_id"`
	Before    int64  `json:"before"`
	After     int64  `json:"after"`
}

// awaitProcessing opens the database and waits until the event is
// processed, ignored or failed, for at most wait.
func (c *command) awaitProcessing(ctx context.Context, id string, wait time.Duration) (*processed, error) {
	// caisse answered, so the database it uses exists and is migrated:
	// one that is not there is another one.
	if c.db == nil {
		if err := c.openWaiting(ctx, 0); errors.Is(err, errNotYet) {
			return nil, fmt.Errorf("%w; the running caisse uses another database: run send with its CAISSE_DATABASE_URL", err)
		} else if err != nil {
			return nil, err
		}
		defer c.close()
	}
	deadline := time.Now().Add(wait)
	for {
		e, err := c.db.FindEvent(ctx, id)
		if err != nil && caisse.ErrorCode(err) != caisse.ENOTFOUND {
			return nil, err
		}
		if e != nil && e.Status != caisse.EventPending {
			return c.changes(ctx, e)
		}
		if time.Now().After(deadline) {
			if e != nil && e.LastError != "" {
				return &processed{Event: e}, nil
			}
			return nil, fmt.Errorf("it was not processed within %s: is this the database `caisse serve` uses (CAISSE_DATABASE_URL)?", wait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// changes reads the status changes and stock moves an event made.
func (c *command) changes(ctx context.Context, e *caisse.Event) (*processed, error) {
	p := &processed{Event: e}
	if e.OrderID == "" {
		return p, nil
	}
	o, err := c.db.FindOrder(ctx, e.OrderID)
	if caisse.ErrorCode(err) == caisse.ENOTFOUND {
		return p, nil
	} else if err != nil {
		return nil, err
	}
	for _, t := range o.Timeline {
		if t.EventID != e.ID {
			continue
		}
		ch := change{OrderID: o.ID, From: string(t.From), To: string(t.To), Note: t.Note}
		for _, m := range t.Stock {
			if m.Sold == 0 {
				continue
			}
			after := m.OnHand // recorded when the event was applied
			if after == nil {
				prod, err := c.db.FindProduct(ctx, m.ProductID)
				if err != nil {
					return nil, err
				}
				after = &prod.Stock
			}
			ch.Stock = append(ch.Stock, stockChange{ProductID: m.ProductID, Before: *after + m.Sold, After: *after})
		}
		p.Changes = append(p.Changes, ch)
	}
	return p, nil
}

// describe says in one line what caisse did with the event, such as
// "processed · o1: pending → paid · print-1 stock 1 → 0".
func (p *processed) describe() string {
	e := p.Event
	switch {
	case p.Duplicate:
		return fmt.Sprintf("a duplicate: caisse received this event at %s, and it is %s; nothing changed now",
			e.ReceivedAt.Local().Format(time.DateTime), e.Status)
	case e.Status == caisse.EventFailed:
		return "failed: " + e.LastError + " (fix the cause, then `caisse events replay " + e.ID + "`)"
	case e.Status == caisse.EventPending:
		return "not applied yet: " + e.LastError + " (caisse tries again; `caisse events show " + e.ID + "` follows it)"
	case e.Status == caisse.EventIgnored:
		return "ignored: " + e.LastError
	case e.OrderID == "":
		return "processed · no order links it yet: caisse keeps what it says and applies it when the order's checkout event arrives"
	case len(p.Changes) == 0:
		return "processed · " + e.OrderID + ": no change of status (the order already was where this event puts it)"
	}
	parts := []string{"processed"}
	for _, ch := range p.Changes {
		from := ch.From
		if from == "" {
			from = "new"
		}
		switch {
		case ch.From == ch.To && ch.Note != "":
			parts = append(parts, ch.OrderID+": "+ch.Note)
		case ch.Note != "":
			parts = append(parts, ch.OrderID+": "+from+" → "+ch.To+" ("+ch.Note+")")
		default:
			parts = append(parts, ch.OrderID+": "+from+" → "+ch.To)
		}
		for _, s := range ch.Stock {
			parts = append(parts, fmt.Sprintf("%s stock %d → %d", s.ProductID, s.Before, s.After))
		}
	}
	return strings.Join(parts, " · ")
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/caisse/caisse/stripe"
)

// send signs a payload with the configured secret and posts it to a running
// caisse: the offline twin of `stripe trigger`.
func (m *Main) send(ctx context.Context, args []string) error {
	c := m.command("send")
	var ex stripe.Example
	url := c.fs.String("url", "", "where to post (default http://$CAISSE_ADDR/webhooks/stripe)")
	c.fs.StringVar(&ex.Type, "example", "", "build an example event of this type: "+strings.Join(stripe.ExampleTypes, ", "))
	c.fs.StringVar(&ex.EventID, "event-id", "", "event id (default: a new one)")
	c.fs.StringVar(&ex.OrderID, "order", "", "order id (client_reference_id and metadata.order_id)")
	c.fs.StringVar(&ex.ProductID, "product", "", "product id in metadata.items")
	c.fs.Int64Var(&ex.Quantity, "quantity", 1, "quantity in metadata.items")
	c.fs.Int64Var(&ex.Amount, "amount", 0, "amount in the currency's smallest unit")
	c.fs.Int64Var(&ex.Refunded, "refunded", 0, "charge.refunded: cumulative amount refunded (default: all)")
	c.fs.StringVar(&ex.Currency, "currency", "", "currency (default eur)")
	c.fs.StringVar(&ex.PaymentIntent, "payment-intent", "", "payment intent id (default pi_ORDER)")
	c.fs.StringVar(&ex.Session, "session", "", "checkout session id (default cs_test_ORDER)")
	c.fs.StringVar(&ex.Charge, "charge", "", "charge id (default ch_ORDER)")
	c.fs.StringVar(&ex.Dispute, "dispute", "", "dispute id (default dp_ORDER)")
	c.fs.StringVar(&ex.DisputeStatus, "dispute-status", "", "dispute status")
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
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload: payload, Secret: c.cfg.WebhookSecrets[0], Timestamp: time.Now(), Scheme: "v1",
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *url, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", signed.Header)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach caisse at %s: %w (is `caisse serve` running?)", *url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	ev, _ := stripe.DecodeEvent(payload)
	id, typ := "", ""
	if ev != nil {
		id, typ = ev.ID, ev.Type
	}
	if err := c.print(map[string]any{"event_id": id, "type": typ, "status": res.StatusCode, "response": strings.TrimSpace(string(body))},
		func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "%s %s -> %d %s\n", typ, id, res.StatusCode, strings.TrimSpace(string(body)))
		}); err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("caisse answered %d", res.StatusCode)
	}
	return nil
}

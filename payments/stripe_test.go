package payments_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/caisse/caisse"
)

// stripeFake stands in for Stripe's API behind caisse.StripeAPI, as the
// jobs see it: a session per order (asked again, the same session),
// a refund per idempotency key, and the account's webhook endpoints. The
// stripe package's Client is tested against stripe-mock and the fuller
// stripemock.Fake; these tests are about what the jobs do with the
// answers.
type stripeFake struct {
	mu        sync.Mutex
	now       func() time.Time
	sessions  map[string]caisse.CheckoutSession
	refunds   map[string]string
	endpoints []caisse.WebhookEndpoint
}

var _ caisse.StripeAPI = (*stripeFake)(nil)

func newStripeFake(now func() time.Time) *stripeFake {
	return &stripeFake{now: now, sessions: map[string]caisse.CheckoutSession{}, refunds: map[string]string{}}
}

func (f *stripeFake) Livemode() bool { return false }

func (f *stripeFake) CreateCheckoutSession(_ context.Context, p caisse.CheckoutSessionParams) (caisse.CheckoutSession, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.sessions[p.OrderID]; ok {
		return s, nil
	}
	if len(p.Lines) == 0 || p.ExpiresAt.Before(f.now().Add(30*time.Minute)) {
		return caisse.CheckoutSession{}, &caisse.StripeError{Status: 400, Type: "invalid_request_error", Message: "bad checkout"}
	}
	id := fmt.Sprintf("cs_test_%d", len(f.sessions)+1)
	s := caisse.CheckoutSession{ID: id, URL: "https://checkout.stripe.com/c/pay/" + id, ExpiresAt: p.ExpiresAt}
	f.sessions[p.OrderID] = s
	return s, nil
}

// ExpireCheckoutSession accepts any session: these tests do not cancel.
func (f *stripeFake) ExpireCheckoutSession(context.Context, string) error { return nil }

func (f *stripeFake) Refund(_ context.Context, p caisse.RefundParams) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.refunds[p.IdempotencyKey]; ok {
		return id, nil
	}
	id := fmt.Sprintf("re_test_%d", len(f.refunds)+1)
	f.refunds[p.IdempotencyKey] = id
	return id, nil
}

func (f *stripeFake) ListEvents(context.Context, time.Time, func(string, int64, []byte) error) error {
	return nil
}

func (f *stripeFake) WebhookEndpoints(context.Context) ([]caisse.WebhookEndpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]caisse.WebhookEndpoint(nil), f.endpoints...), nil
}

// CustomerEmail knows no customer: these tests ask none.
func (f *stripeFake) CustomerEmail(_ context.Context, id string) (string, error) {
	return "", &caisse.StripeError{Status: 404, Code: "resource_missing", Message: "No such customer: '" + id + "'"}
}

func (f *stripeFake) SetShipment(context.Context, string, caisse.Shipping, caisse.Shipment) error {
	return nil
}

func (f *stripeFake) BalanceTransaction(_ context.Context, id string) (caisse.BalanceTransaction, error) {
	return caisse.BalanceTransaction{}, &caisse.StripeError{Status: 404, Code: "resource_missing", Message: "No such balance transaction: '" + id + "'"}
}

func (f *stripeFake) PayoutTransactions(context.Context, string, func([]caisse.BalanceTransaction) error) error {
	return nil
}

func (f *stripeFake) ChargeRefunds(context.Context, string) ([]caisse.BalanceTransaction, error) {
	return nil, nil
}

func (f *stripeFake) setEndpoints(eps ...caisse.WebhookEndpoint) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.endpoints = eps
}

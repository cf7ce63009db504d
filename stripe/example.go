package stripe

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/caisse/caisse"
)

// Example describes an event to build, as `caisse send --example` and the
// tests do. Empty fields get plausible values.
type Example struct {
	Type          string
	EventID       string
	Created       time.Time
	Livemode      bool
	APIVersion    string
	OrderID       string
	ProductID     string
	Quantity      int64
	Amount        int64 // session total, intent amount, charge amount, dispute amount
	Refunded      int64 // charge.refunded: cumulative amount refunded
	Currency      string
	Email         string
	Session       string
	PaymentIntent string
	Charge        string
	Dispute       string
	DisputeStatus string
	// Unpaid makes checkout.session.completed carry payment_status unpaid (a
	// delayed payment method).
	Unpaid bool
	// NoMetadata leaves the order id and items out of the objects' metadata.
	NoMetadata bool
	// FraudType is what an early fraud warning reports (default
	// made_with_stolen_card); Warning is its id (default issfr_ORDER).
	FraudType string
	Warning   string

	// The books. BalanceTransaction is the charge's balance transaction
	// (default txn_ORDER); with a Fee it is expanded on the charge, with
	// that fee, in SettlementCurrency (default Currency) at ExchangeRate,
	// for SettlementAmount (default Amount).
	BalanceTransaction string
	Fee                int64
	SettlementCurrency string
	SettlementAmount   int64
	ExchangeRate       float64
	// Refund, on charge.refunded, lists that refund (re_…) on the charge,
	// with its balance transaction txn_REFUND by id.
	Refund string
	// DisputeFee, on a dispute, carries its withdrawal's balance
	// transaction expanded, with Stripe's dispute fee.
	DisputeFee int64
	// Payout is a payout.* event's payout (default po_ORDER), of Amount,
	// arriving on ArrivalDate; Manual makes it a payout made by hand, and
	// FailureCode says why a failed one failed.
	Payout      string
	ArrivalDate time.Time
	Manual      bool
	FailureCode string
}

// NewID returns a Stripe-like id with the given prefix.
func NewID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// ExampleTypes are the types Build knows; every handled type is one.
var ExampleTypes = caisse.HandledTypes

// Build returns a realistic event payload of e.Type.
func Build(e Example) ([]byte, error) {
	if e.EventID == "" {
		e.EventID = NewID("evt")
	}
	if e.Created.IsZero() {
		e.Created = time.Now()
	}
	if e.APIVersion == "" {
		e.APIVersion = "2025-10-29.clover"
	}
	if e.OrderID == "" {
		e.OrderID = "order_" + NewID("x")[2:12]
	}
	if e.ProductID == "" {
		e.ProductID = "tshirt-m"
	}
	if e.Quantity == 0 {
		e.Quantity = 1
	}
	if e.Amount == 0 {
		e.Amount = 2500
	}
	if e.Currency == "" {
		e.Currency = "eur"
	}
	if e.Email == "" {
		e.Email = "buyer@example.com"
	}
	if e.Session == "" {
		e.Session = "cs_test_" + e.OrderID
	}
	if e.PaymentIntent == "" {
		e.PaymentIntent = "pi_" + e.OrderID
	}
	if e.Charge == "" {
		e.Charge = "ch_" + e.OrderID
	}
	if e.Dispute == "" {
		e.Dispute = "dp_" + e.OrderID
	}
	metadata := map[string]string{}
	if !e.NoMetadata {
		metadata["order_id"] = e.OrderID
		metadata["items"] = fmt.Sprintf("%s:%d", e.ProductID, e.Quantity)
	}
	created := e.Created.Unix()

	var obj map[string]any
	switch {
	case strings.HasPrefix(e.Type, "checkout.session."):
		obj = e.session(metadata, created)
	case strings.HasPrefix(e.Type, "payment_intent."):
		obj = e.paymentIntent(metadata, created)
	case e.Type == "charge.refunded" || e.Type == "charge.succeeded":
		obj = e.charge(created)
	case strings.HasPrefix(e.Type, "charge.dispute."):
		obj = e.dispute(created)
	case strings.HasPrefix(e.Type, "radar.early_fraud_warning."):
		obj = e.earlyFraudWarning(created)
	case strings.HasPrefix(e.Type, "payout."):
		obj = e.payout(created)
	default:
		return nil, fmt.Errorf("no example for event type %q; known types: %s", e.Type, strings.Join(ExampleTypes, ", "))
	}
	return json.MarshalIndent(map[string]any{
		"id":               e.EventID,
		"object":           "event",
		"api_version":      e.APIVersion,
		"created":          created,
		"data":             map[string]any{"object": obj},
		"livemode":         e.Livemode,
		"pending_webhooks": 1,
		"request":          map[string]any{"id": nil, "idempotency_key": nil},
		"type":             e.Type,
	}, "", "  ")
}

func (e Example) session(metadata map[string]string, created int64) map[string]any {
	status, paymentStatus := "complete", "paid"
	switch e.Type {
	case "checkout.session.completed":
		if e.Unpaid {
			paymentStatus = "unpaid"
		}
	case "checkout.session.async_payment_failed":
		paymentStatus = "unpaid"
	case "checkout.session.expired":
		status, paymentStatus = "expired", "unpaid"
	}
	var clientRef any
	if !e.NoMetadata {
		clientRef = e.OrderID
	}
	var pi any = e.PaymentIntent
	if e.Type == "checkout.session.expired" {
		pi = nil
	}
	return map[string]any{
		"id": e.Session, "object": "checkout.session", "after_expiration": nil, "allow_promotion_codes": nil,
		"amount_subtotal": e.Amount, "amount_total": e.Amount, "automatic_tax": map[string]any{"enabled": false, "liability": nil, "status": nil},
		"billing_address_collection": nil, "cancel_url": "https://shop.example.com/cart", "client_reference_id": clientRef,
		"consent": nil, "created": created - 60, "currency": e.Currency, "customer": nil, "customer_creation": "if_required",
		"customer_details": map[string]any{"address": map[string]any{"city": nil, "country": "FR", "line1": nil, "line2": nil, "postal_code": nil, "state": nil},
			"email": e.Email, "name": "Camille Martin", "phone": nil, "tax_exempt": "none", "tax_ids": []any{}},
		"customer_email": nil, "expires_at": created + 1800, "invoice": nil, "livemode": e.Livemode, "locale": nil,
		"metadata": metadata, "mode": "payment", "payment_intent": pi, "payment_method_types": []string{"card", "sepa_debit"},
		"payment_status": paymentStatus, "status": status, "submit_type": nil, "success_url": "https://shop.example.com/thanks",
		"total_details": map[string]any{"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}, "ui_mode": "hosted", "url": nil,
	}
}

func (e Example) paymentIntent(metadata map[string]string, created int64) map[string]any {
	status, received := "succeeded", e.Amount
	var lastError any
	if e.Type == "payment_intent.payment_failed" {
		status, received = "requires_payment_method", 0
		lastError = map[string]any{"code": "card_declined", "decline_code": "insufficient_funds",
			"message": "Your card has insufficient funds.", "type": "card_error"}
	}
	return map[string]any{
		"id": e.PaymentIntent, "object": "payment_intent", "amount": e.Amount, "amount_capturable": 0,
		"amount_details": map[string]any{"tip": map[string]any{}}, "amount_received": received, "application": nil,
		"automatic_payment_methods": nil, "canceled_at": nil, "capture_method": "automatic", "client_secret": e.PaymentIntent + "_secret_redacted",
		"confirmation_method": "automatic", "created": created - 30, "currency": e.Currency, "customer": nil, "description": nil,
		"last_payment_error": lastError, "latest_charge": e.Charge, "livemode": e.Livemode, "metadata": metadata,
		"payment_method": "pm_card_visa", "payment_method_types": []string{"card"}, "receipt_email": e.Email,
		"status": status, "statement_descriptor": nil,
	}
}

func (e Example) charge(created int64) map[string]any {
	refunded := e.Refunded
	if refunded == 0 && e.Type == "charge.refunded" {
		refunded = e.Amount
	}
	var balance any = cmp.Or(e.BalanceTransaction, "txn_"+e.OrderID)
	if e.Fee != 0 {
		amount, currency := cmp.Or(e.SettlementAmount, e.Amount), cmp.Or(e.SettlementCurrency, e.Currency)
		var rate any
		if e.ExchangeRate != 0 {
			rate = e.ExchangeRate
		}
		balance = map[string]any{"id": balance, "object": "balance_transaction", "amount": amount, "available_on": created + 2*86400,
			"created": created - 20, "currency": currency, "exchange_rate": rate, "fee": e.Fee, "net": amount - e.Fee,
			"reporting_category": "charge", "source": e.Charge, "status": "pending", "type": "charge"}
	}
	refunds := []any{}
	if e.Refund != "" {
		refunds = append(refunds, map[string]any{"id": e.Refund, "object": "refund", "amount": refunded, "balance_transaction": "txn_" + e.Refund,
			"charge": e.Charge, "created": created, "currency": e.Currency, "payment_intent": e.PaymentIntent, "status": "succeeded"})
	}
	return map[string]any{
		"id": e.Charge, "object": "charge", "amount": e.Amount, "amount_captured": e.Amount, "amount_refunded": refunded,
		"balance_transaction": balance, "billing_details": map[string]any{"email": e.Email, "name": "Camille Martin"},
		"captured": true, "created": created - 20, "currency": e.Currency, "customer": nil, "disputed": false,
		"livemode": e.Livemode, "metadata": map[string]string{}, "paid": true, "payment_intent": e.PaymentIntent,
		"payment_method": "pm_card_visa", "receipt_email": e.Email, "refunded": refunded >= e.Amount, "status": "succeeded",
		"refunds": map[string]any{"object": "list", "data": refunds, "has_more": false, "total_count": len(refunds), "url": "/v1/charges/" + e.Charge + "/refunds"},
	}
}

// earlyFraudWarning is a radar.early_fraud_warning as Stripe sends it.
func (e Example) earlyFraudWarning(created int64) map[string]any {
	return map[string]any{
		"id": cmp.Or(e.Warning, "issfr_"+e.OrderID), "object": "radar.early_fraud_warning", "actionable": true,
		"charge": e.Charge, "created": created - 5, "fraud_type": cmp.Or(e.FraudType, "made_with_stolen_card"),
		"livemode": e.Livemode, "payment_intent": e.PaymentIntent,
	}
}

func (e Example) dispute(created int64) map[string]any {
	status := e.DisputeStatus
	if status == "" {
		switch e.Type {
		case "charge.dispute.created":
			status = "needs_response"
		case "charge.dispute.updated":
			status = "under_review"
		default:
			status = "lost"
		}
	}
	balance := []any{}
	if e.DisputeFee != 0 {
		balance = append(balance, map[string]any{"id": "txn_" + e.Dispute, "object": "balance_transaction", "amount": -e.Amount,
			"available_on": created, "created": created - 10, "currency": e.Currency, "exchange_rate": nil, "fee": e.DisputeFee,
			"net": -e.Amount - e.DisputeFee, "reporting_category": "dispute", "source": e.Dispute, "status": "available", "type": "adjustment"})
	}
	return map[string]any{
		"id": e.Dispute, "object": "dispute", "amount": e.Amount, "balance_transactions": balance, "charge": e.Charge,
		"created": created - 10, "currency": e.Currency, "evidence": map[string]any{"customer_email_address": e.Email},
		"evidence_details":     map[string]any{"due_by": created + 7*86400, "has_evidence": false, "past_due": false, "submission_count": 0},
		"is_charge_refundable": false, "livemode": e.Livemode, "metadata": map[string]string{}, "payment_intent": e.PaymentIntent,
		"reason": "fraudulent", "status": status,
	}
}

// payout is a payout as Stripe sends it with payout.paid and payout.failed.
func (e Example) payout(created int64) map[string]any {
	id := cmp.Or(e.Payout, "po_"+e.OrderID)
	status := "paid"
	var code, message any
	if e.Type == "payout.failed" {
		status = "failed"
		code = cmp.Or(e.FailureCode, "account_closed")
		message = "The bank account has been closed."
	}
	arrival := e.ArrivalDate
	if arrival.IsZero() {
		arrival = e.Created.Add(48 * time.Hour)
	}
	return map[string]any{
		"id": id, "object": "payout", "amount": e.Amount, "arrival_date": arrival.Unix(), "automatic": !e.Manual,
		"balance_transaction": "txn_" + id, "created": created - 86400, "currency": e.Currency, "description": "STRIPE PAYOUT",
		"destination": "ba_1", "failure_balance_transaction": nil, "failure_code": code, "failure_message": message,
		"livemode": e.Livemode, "metadata": map[string]string{}, "method": "standard", "reconciliation_status": "completed",
		"source_type": "card", "statement_descriptor": nil, "status": status, "type": "bank_account",
	}
}

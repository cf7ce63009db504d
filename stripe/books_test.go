package stripe

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/stripemock"
)

// A charge names its balance transaction by id (as webhooks send it) or
// expanded (fee, net, settlement currency and rate); a refund listed on the
// charge names its own; a dispute carries its withdrawal expanded; a payout
// event records the payout.
func TestBooksDecode(t *testing.T) {
	t.Parallel()
	ev := decodeTestEvent(t, "evt_1", "charge.succeeded", 1, `{"id":"ch_1","object":"charge","amount":2500,"currency":"usd",
		"payment_intent":"pi_1","balance_transaction":{"id":"txn_1","object":"balance_transaction","amount":2290,"fee":97,"net":2193,
		"currency":"eur","exchange_rate":0.916,"created":10,"available_on":20,"type":"charge","source":"ch_1"}}`)
	ef, err := Facts(ev)
	want := caisse.BalanceTransaction{ID: "txn_1", Type: "charge", Source: "ch_1", Charge: "ch_1", Amount: 2290, Fee: 97, Net: 2193,
		Currency: "eur", ExchangeRate: 0.916, Created: 10, AvailableOn: 20, Known: true}
	if err != nil || len(ef.Balance) != 1 || ef.Balance[0] != want {
		t.Fatalf("expanded: %+v, %v", ef.Balance, err)
	}

	ev = decodeTestEvent(t, "evt_2", "charge.refunded", 1, `{"id":"ch_1","object":"charge","amount":2500,"amount_refunded":500,
		"currency":"eur","balance_transaction":"txn_1","refunds":{"object":"list","data":[{"id":"re_1","amount":500,"balance_transaction":"txn_re_1"}]}}`)
	ef, err = Facts(ev)
	if err != nil || len(ef.RefundsOf) != 0 || len(ef.Balance) != 2 || ef.Balance[0] != (caisse.BalanceTransaction{ID: "txn_1", Source: "ch_1", Charge: "ch_1"}) ||
		ef.Balance[1] != (caisse.BalanceTransaction{ID: "txn_re_1", Source: "re_1", Charge: "ch_1"}) {
		t.Fatalf("by id: %+v, %v", ef.Balance, err)
	}

	// API versions from 2022-11-15 leave the refunds out: caisse asks.
	ev = decodeTestEvent(t, "evt_2b", "charge.refunded", 1, `{"id":"ch_1","object":"charge","amount":2500,"amount_refunded":800,
		"currency":"eur","balance_transaction":"txn_1"}`)
	if ef, err = Facts(ev); err != nil || len(ef.RefundsOf) != 1 || ef.RefundsOf[0] != "ch_1" {
		t.Fatalf("unlisted refunds: %+v, %v", ef, err)
	}

	ev = decodeTestEvent(t, "evt_3", "charge.dispute.closed", 1, `{"id":"dp_1","object":"dispute","amount":2500,"currency":"eur",
		"charge":"ch_1","status":"lost","balance_transactions":[{"id":"txn_dp","amount":-2500,"fee":1500,"net":-4000,"currency":"eur",
		"type":"adjustment","source":"dp_1"}]}`)
	ef, err = Facts(ev)
	if err != nil || len(ef.Balance) != 1 || ef.Balance[0].Charge != "ch_1" || ef.Balance[0].Fee != 1500 || ef.Balance[0].Net != -4000 {
		t.Fatalf("dispute: %+v, %v", ef.Balance, err)
	}

	ev = decodeTestEvent(t, "evt_4", "payout.failed", 1, `{"id":"po_1","object":"payout","amount":9000,"currency":"eur",
		"arrival_date":100,"automatic":true,"status":"paid","failure_code":"account_closed","failure_message":"Closed.","balance_transaction":"txn_po_1"}`)
	ef, err = Facts(ev)
	if err != nil || ef.Payout == nil || *ef.Payout != (caisse.Payout{ID: "po_1", Amount: 9000, Currency: "eur", ArrivalDate: 100,
		Status: "failed", Automatic: true, FailureCode: "account_closed", FailureMessage: "Closed."}) {
		t.Fatalf("payout: %+v, %v", ef.Payout, err)
	}
	if len(ef.Balance) != 1 || ef.Balance[0].Payout != "po_1" || ef.Balance[0].Type != "payout" {
		t.Fatalf("payout's own transaction: %+v", ef.Balance)
	}
}

// A balance transaction's money is as strict as a payment's: a figure of
// the wrong type, or one that does not add up, makes the event a dead
// letter.
func TestBooksRefused(t *testing.T) {
	t.Parallel()
	for name, obj := range map[string]string{
		"fee as text":     `{"id":"ch_1","object":"charge","balance_transaction":{"id":"txn_1","amount":100,"fee":"3","net":97}}`,
		"net off":         `{"id":"ch_1","object":"charge","balance_transaction":{"id":"txn_1","amount":100,"fee":3,"net":90}}`,
		"amount too big":  `{"id":"ch_1","object":"charge","balance_transaction":{"id":"txn_1","amount":1e20,"fee":0,"net":1e20}}`,
		"rate as text":    `{"id":"ch_1","object":"charge","balance_transaction":{"id":"txn_1","amount":100,"fee":3,"net":97,"exchange_rate":"1.1"}}`,
		"transactions":    `{"id":"dp_1","object":"dispute","charge":"ch_1","balance_transactions":{"id":"txn_1"}}`,
		"payout amount":   `{"id":"po_1","object":"payout","amount":"90"}`,
		"payout negative": `{"id":"po_1","object":"payout","amount":-90}`,
	} {
		typ := "charge.succeeded"
		switch name {
		case "transactions":
			typ = "charge.dispute.created"
		case "payout amount", "payout negative":
			typ = "payout.paid"
		}
		ef, err := Facts(decodeTestEvent(t, "evt_1", typ, 1, obj))
		if caisse.ErrorCode(err) != caisse.EINVALID {
			t.Errorf("%s: Facts = %+v, %v; want it refused", name, ef, err)
		}
	}
}

// The client reads a balance transaction and pages through a payout's,
// each linked to its charge; Stripe's 500 and 429 come back as
// StripeErrors, the 429 with its Retry-After.
func TestBooksClient(t *testing.T) {
	t.Parallel()
	c, f := setup(t)
	f.AddBalanceTransaction(stripemock.BalanceTransaction{ID: "txn_c", Type: "charge", Amount: 2500, Fee: 103, Currency: "eur",
		Source: "ch_1", Payout: "po_1", Created: 1})
	for i := range 150 {
		f.AddBalanceTransaction(stripemock.BalanceTransaction{ID: "txn_r" + string(rune('a'+i/26)) + string(rune('a'+i%26)), Type: "refund",
			Amount: -10, Currency: "eur", Source: "re_x", Charge: "ch_1", Payout: "po_1", Created: 2})
	}
	f.AddBalanceTransaction(stripemock.BalanceTransaction{ID: "txn_other", Type: "charge", Amount: 1, Currency: "eur", Source: "ch_2", Payout: "po_2"})

	f.FailNext("GET", "/v1/balance_transactions/txn_c", stripemock.Error{Status: 500, Message: "An unknown error occurred"})
	f.FailNext("GET", "/v1/balance_transactions/txn_c", stripemock.Error{Status: 429, Code: "rate_limit", Message: "Too many requests", RetryAfter: 7})
	_, err := c.BalanceTransaction(t.Context(), "txn_c")
	var se *caisse.StripeError
	if !errors.As(err, &se) || se.Status != 500 {
		t.Fatalf("first: %v", err)
	}
	_, err = c.BalanceTransaction(t.Context(), "txn_c")
	if !errors.As(err, &se) || se.Status != 429 || se.RetryAfter != 7*time.Second {
		t.Fatalf("second: %v (%+v)", err, se)
	}
	got, err := c.BalanceTransaction(t.Context(), "txn_c")
	if err != nil || got.Fee != 103 || got.Net != 2397 || got.Charge != "ch_1" || !got.Known {
		t.Fatalf("third: %+v, %v", got, err)
	}
	if _, err := c.BalanceTransaction(t.Context(), "txn_missing"); !errors.As(err, &se) || se.Status != http.StatusNotFound {
		t.Fatalf("missing: %v", err)
	}

	f.AddBalanceTransaction(stripemock.BalanceTransaction{ID: "txn_re_9", Type: "refund", Amount: -700, Currency: "eur", Source: "re_9", Charge: "ch_1"})
	f.AddRefund(stripemock.Refund{ID: "re_9", Charge: "ch_1", Amount: 700, Currency: "eur", BalanceTransaction: "txn_re_9"})
	f.AddRefund(stripemock.Refund{ID: "re_pending", Charge: "ch_1", Amount: 100, Currency: "eur"})
	f.AddRefund(stripemock.Refund{ID: "re_other", Charge: "ch_2", Amount: 100, Currency: "eur", BalanceTransaction: "txn_x"})
	refunds, err := c.ChargeRefunds(t.Context(), "ch_1")
	if err != nil || len(refunds) != 1 || refunds[0] != (caisse.BalanceTransaction{ID: "txn_re_9", Type: "refund", Source: "re_9", Charge: "ch_1",
		Amount: -700, Net: -700, Currency: "eur", Known: true}) {
		t.Fatalf("refunds: %+v, %v", refunds, err)
	}

	var pages, n int
	err = c.PayoutTransactions(t.Context(), "po_1", func(txns []caisse.BalanceTransaction) error {
		pages++
		for _, t := range txns {
			if t.Payout != "po_1" || t.Charge != "ch_1" {
				return errors.New("transaction " + t.ID + " not linked: " + t.Charge)
			}
		}
		n += len(txns)
		return nil
	})
	if err != nil || pages != 2 || n != 151 {
		t.Fatalf("listed %d in %d pages: %v", n, pages, err)
	}
}

// stripe-mock answers the books' calls with Stripe's own fixtures: the
// shapes the client reads are Stripe's.
func TestBooksClientStripeMock(t *testing.T) {
	t.Parallel()
	c := NewClient(stripemock.TestKey, stripemock.Start(t), nil)
	got, err := c.BalanceTransaction(t.Context(), "txn_1")
	if err != nil || got.ID == "" || got.Currency == "" || !got.Known || got.Amount-got.Fee != got.Net {
		t.Fatalf("retrieve: %+v, %v", got, err)
	}
	n := 0
	err = c.PayoutTransactions(t.Context(), "po_1", func(txns []caisse.BalanceTransaction) error {
		n += len(txns)
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("list: %d, %v", n, err)
	}
	refunds, err := c.ChargeRefunds(t.Context(), "ch_1")
	if err != nil || len(refunds) == 0 || refunds[0].Charge != "ch_1" || refunds[0].ID == "" {
		t.Fatalf("refunds: %+v, %v", refunds, err)
	}
}

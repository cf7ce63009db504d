package stripemock

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// BalanceTransaction is a balance transaction the Fake serves, by its id
// (GET /v1/balance_transactions/{id}) and in its payout's list (GET
// /v1/balance_transactions?payout=po_…).
type BalanceTransaction struct {
	ID           string
	Type         string // charge, refund, adjustment, payout…
	Amount       int64
	Fee          int64
	Currency     string
	ExchangeRate float64 // 0: null
	Created      int64
	AvailableOn  int64
	// Source is the object that moved the money (ch_, re_, dp_, po_…);
	// Charge, for a refund or a dispute, the charge it is of, which the
	// source shows when expanded.
	Source string
	Charge string
	// Payout is the payout that carried it, which lists it.
	Payout string
}

// AddBalanceTransaction makes the Fake know a balance transaction.
func (f *Fake) AddBalanceTransaction(t BalanceTransaction) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.balance == nil {
		f.balance = map[string]BalanceTransaction{}
	}
	if _, ok := f.balance[t.ID]; !ok {
		f.balanceOrder = append(f.balanceOrder, t.ID)
	}
	f.balance[t.ID] = t
}

// json is the transaction as Stripe gives it, with its source expanded or
// not.
func (t BalanceTransaction) json(expand bool) []byte {
	var source any = orNull(t.Source)
	if expand && t.Source != "" {
		obj := map[string]any{"id": t.Source, "object": sourceObject(t.Source)}
		switch obj["object"] {
		case "refund", "dispute":
			obj["charge"] = t.Charge
			obj["amount"] = -t.Amount
			obj["currency"] = t.Currency
		case "charge":
			obj["amount"] = t.Amount
			obj["currency"] = t.Currency
		case "payout":
			obj["amount"] = -t.Amount
			obj["currency"] = t.Currency
		}
		source = obj
	}
	var rate any
	if t.ExchangeRate != 0 {
		rate = t.ExchangeRate
	}
	b, _ := json.Marshal(map[string]any{
		"id": t.ID, "object": "balance_transaction", "amount": t.Amount, "available_on": t.AvailableOn, "created": t.Created,
		"currency": t.Currency, "description": nil, "exchange_rate": rate, "fee": t.Fee,
		"fee_details": []any{map[string]any{"amount": t.Fee, "application": nil, "currency": t.Currency, "description": "Stripe processing fees", "type": "stripe_fee"}},
		"net":         t.Amount - t.Fee, "reporting_category": t.Type, "source": source, "status": "available", "type": t.Type,
	})
	return b
}

func sourceObject(id string) string {
	switch {
	case strings.HasPrefix(id, "ch_"), strings.HasPrefix(id, "py_"):
		return "charge"
	case strings.HasPrefix(id, "re_"), strings.HasPrefix(id, "pyr_"):
		return "refund"
	case strings.HasPrefix(id, "dp_"), strings.HasPrefix(id, "du_"):
		return "dispute"
	case strings.HasPrefix(id, "po_"):
		return "payout"
	}
	return "unknown"
}

// retrieveBalance serves GET /v1/balance_transactions/{id}.
func (f *Fake) retrieveBalance(w http.ResponseWriter, id string, form url.Values) {
	for k := range form {
		if k != "expand[]" {
			writeError(w, unknownParam(k))
			return
		}
	}
	t, ok := f.balance[id]
	if !ok {
		writeError(w, Error{Status: http.StatusNotFound, Code: "resource_missing", Param: "id", Message: fmt.Sprintf("No such balance transaction: '%s'", id)})
		return
	}
	writeBody(w, http.StatusOK, t.json(slices.Contains(form["expand[]"], "source")))
}

// listBalance serves GET /v1/balance_transactions, by payout.
func (f *Fake) listBalance(w http.ResponseWriter, form url.Values) {
	for k := range form {
		if !slices.Contains([]string{"limit", "starting_after", "ending_before", "payout", "expand[]", "type"}, k) {
			writeError(w, unknownParam(k))
			return
		}
	}
	expand := slices.Contains(form["expand[]"], "data.source")
	var items []listItem
	for _, id := range f.balanceOrder {
		t := f.balance[id]
		if (form.Has("payout") && t.Payout != form.Get("payout")) || (form.Has("type") && t.Type != form.Get("type")) {
			continue
		}
		items = append(items, listItem{id: t.ID, created: t.Created, raw: t.json(expand)})
	}
	writeList(w, "/v1/balance_transactions", "balance_transaction", items, form)
}

// Refund is a refund the Fake lists by its charge (GET
// /v1/refunds?charge=ch_…), with its balance transaction, which
// AddBalanceTransaction gives the figures of.
type Refund struct {
	ID                 string
	Charge             string
	Amount             int64
	Currency           string
	BalanceTransaction string
	Created            int64
}

// AddRefund makes the Fake list a refund of a charge.
func (f *Fake) AddRefund(r Refund) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refundList = append(f.refundList, r)
}

// listRefunds serves GET /v1/refunds, by charge.
func (f *Fake) listRefunds(w http.ResponseWriter, form url.Values) {
	for k := range form {
		if !slices.Contains([]string{"limit", "starting_after", "ending_before", "charge", "payment_intent", "expand[]"}, k) {
			writeError(w, unknownParam(k))
			return
		}
	}
	expand := slices.Contains(form["expand[]"], "data.balance_transaction")
	var items []listItem
	for _, r := range f.refundList {
		if form.Has("charge") && r.Charge != form.Get("charge") {
			continue
		}
		var bt any = orNull(r.BalanceTransaction)
		if t, ok := f.balance[r.BalanceTransaction]; ok && expand {
			bt = json.RawMessage(t.json(false))
		}
		b, _ := json.Marshal(map[string]any{"id": r.ID, "object": "refund", "amount": r.Amount, "balance_transaction": bt,
			"charge": r.Charge, "created": r.Created, "currency": r.Currency, "metadata": map[string]string{}, "status": "succeeded"})
		items = append(items, listItem{id: r.ID, created: r.Created, raw: b})
	}
	writeList(w, "/v1/refunds", "refund", items, form)
}

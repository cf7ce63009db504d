package stripe

import (
	"math"

	"github.com/valyala/fastjson"

	"github.com/caisse/caisse"
)

// Reading the books' objects from an event: balance transactions (an id, or
// the object expanded) and payouts. Their money fields are as strict as a
// payment's: a figure of the wrong type, or beyond what Stripe moves, makes
// the event a dead letter.

// array reads a list field: null or absent is none, another type refuses
// the event.
func (r *reader) array(name string, v field) []*fastjson.Value {
	if isNull(v) {
		return nil
	}
	a, err := v.Array()
	if err != nil {
		r.fail("data.object.%s is not a list", name)
		return nil
	}
	return a
}

// signed reads a balance's figure: a whole number of the currency's smallest
// unit, negative for money out, within ±caisse.MaxAmount.
func (r *reader) signed(name string, v field) int64 {
	n := r.whole(name, v)
	if n < -caisse.MaxAmount || n > caisse.MaxAmount {
		r.fail("data.object.%s is %d: an amount must be within ±%d", name, n, int64(caisse.MaxAmount))
		return 0
	}
	return n
}

// balanceTransaction reads a balance transaction field (an id, or the
// object expanded) belonging to source, whose money is charge's, into
// r.balance. Null or absent (a charge not settled yet) names none.
func (r *reader) balanceTransaction(name string, v field, source, charge string) {
	if isNull(v) {
		return
	}
	t := caisse.BalanceTransaction{Source: source, Charge: charge, Livemode: r.e.Livemode}
	if v.Type() != fastjson.TypeObject {
		if t.ID = r.id(name, v); t.ID != "" {
			r.balance = append(r.balance, t)
		}
		return
	}
	t.ID = r.id(name+".id", v.Get("id"))
	if t.ID == "" {
		return
	}
	t.Source = cmpOr(r.ref(name+".source", v.Get("source")), source)
	t.Type = r.word(v.Get("type"))
	t.Amount = r.signed(name+".amount", v.Get("amount"))
	t.Fee = r.signed(name+".fee", v.Get("fee"))
	t.Net = r.signed(name+".net", v.Get("net"))
	t.Currency = r.currency(name+".currency", v.Get("currency"))
	t.ExchangeRate = r.rate(name+".exchange_rate", v.Get("exchange_rate"))
	t.Created = r.lenientInt(v.Get("created"))
	t.AvailableOn = r.lenientInt(v.Get("available_on"))
	if r.err == nil && t.Amount-t.Fee != t.Net {
		r.fail("%s says amount %d less fee %d is net %d", name, t.Amount, t.Fee, t.Net)
	}
	t.Known = true
	r.balance = append(r.balance, t)
}

// rate reads an exchange rate: a positive number, or null.
func (r *reader) rate(name string, v field) float64 {
	if isNull(v) {
		return 0
	}
	f, err := v.Float64()
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		r.fail("data.object.%s is %s, not an exchange rate", name, cut(string(v.MarshalTo(nil))))
		return 0
	}
	return f
}

// payout reads a payout object.
func (r *reader) payout(id string, o *fastjson.Value) caisse.Payout {
	p := caisse.Payout{ID: id, Livemode: r.e.Livemode, Created: r.lenientInt(o.Get("created"))}
	p.Amount = r.amount("amount", o.Get("amount"))
	p.Currency = r.currency("currency", o.Get("currency"))
	p.ArrivalDate = r.lenientInt(o.Get("arrival_date"))
	p.Status = r.word(o.Get("status"))
	switch r.e.Type {
	case "payout.paid":
		p.Status = cmpOr(p.Status, "paid")
	case "payout.failed":
		// The event says it failed, whatever a stale object says.
		p.Status = "failed"
	}
	if b := o.Get("automatic"); b != nil && b.Type() == fastjson.TypeTrue {
		p.Automatic = true
	}
	p.FailureCode = r.word(o.Get("failure_code"))
	p.FailureMessage = r.lenientText(o.Get("failure_message"))
	// The payout's own balance transaction is the money leaving.
	if v := o.Get("balance_transaction"); !isNull(v) {
		r.balanceTransaction("balance_transaction", v, id, "")
		if n := len(r.balance); n > 0 && r.balance[n-1].Type == "" {
			r.balance[n-1].Type = "payout"
		}
	}
	for i := range r.balance {
		r.balance[i].Payout = id
	}
	return p
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

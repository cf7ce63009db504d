package caisse

import (
	"context"
	"slices"
	"time"
)

// The books: what each payment really brought in (Stripe's fee and the net
// left in the shop's balance) and which payout carried it to the bank.
//
// Stripe records every movement of the shop's balance as a balance
// transaction (txn_…): a charge's money coming in, a refund's going out, a
// dispute's withdrawal and its fee, a payout leaving for the bank. caisse
// keeps each one it learns of, from an event that carries it expanded, from
// one API call by its id, or from the list of a payout's transactions, and
// links it to the charge its money belongs to, and so to that charge's
// order. Stripe never changes a balance transaction's figures, so knowing
// one twice, or in any order, adds nothing: the figures, once known, stay;
// the links (source, charge, order, payout) settle on one value.

// BalanceTransaction is one movement of the shop's Stripe balance.
type BalanceTransaction struct {
	// ID is Stripe's id (txn_…).
	ID string `json:"id"`
	// Type is Stripe's: charge, payment, refund, payment_refund, adjustment
	// (a dispute's), payout, stripe_fee…; empty while only the id is known.
	Type string `json:"type"`
	// Source is the object that moved the money: ch_/py_ (a charge), re_/pyr_
	// (a refund), dp_ (a dispute), po_ (a payout).
	Source string `json:"source"`
	// Charge is the charge the money belongs to: the source itself for a
	// charge, the refunded or disputed charge otherwise; empty for money
	// that belongs to no payment (a payout, Stripe's own fees).
	Charge string `json:"charge,omitempty"`
	// OrderID is the order of that charge, once caisse links it.
	OrderID string `json:"order_id,omitempty"`
	// Amount, Fee and Net are in Currency, the settlement currency, in its
	// smallest unit: Amount is positive for money in, negative for money
	// out; Net = Amount − Fee.
	Amount int64 `json:"amount"`
	Fee    int64 `json:"fee"`
	Net    int64 `json:"net"`
	// Currency is the settlement currency (the shop's balance's), which
	// may differ from the payment's: then ExchangeRate is the rate Stripe
	// converted at.
	Currency     string  `json:"currency"`
	ExchangeRate float64 `json:"exchange_rate,omitempty"`
	// Created is when the money moved; AvailableOn, when it can be paid
	// out (Unix seconds).
	Created     int64 `json:"created"`
	AvailableOn int64 `json:"available_on"`
	// Payout is the payout (po_…) that carried it to the bank, once known.
	Payout string `json:"payout,omitempty"`
	// Known is true once caisse has Stripe's figures, not only the id.
	Known bool `json:"known"`
	// Livemode is true for live-mode money: the books of one mode never
	// count the other's.
	Livemode bool `json:"livemode"`
}

// Merge folds other into t. Both describe the same balance transaction.
// The figures, which Stripe never changes, are taken from whichever side
// knows them (the greater, should both and differ, so merging stays
// commutative); the links settle on one value.
func (t *BalanceTransaction) Merge(other BalanceTransaction) {
	t.ID = settle(t.ID, other.ID)
	if other.Known && (!t.Known || other.figures() > t.figures()) {
		t.Type, t.Amount, t.Fee, t.Net = other.Type, other.Amount, other.Fee, other.Net
		t.Currency, t.ExchangeRate, t.Created, t.AvailableOn = other.Currency, other.ExchangeRate, other.Created, other.AvailableOn
		t.Known = true
	} else if !t.Known {
		t.Type = settle(t.Type, other.Type)
	}
	t.Source = settle(t.Source, other.Source)
	t.Charge = settle(t.Charge, other.Charge)
	t.OrderID = settle(t.OrderID, other.OrderID)
	t.Payout = settle(t.Payout, other.Payout)
	t.Livemode = t.Livemode || other.Livemode
}

// figures orders two readings of the same transaction, only so a
// disagreement (which Stripe never makes) settles the same way whatever
// order the readings come in.
func (t BalanceTransaction) figures() string {
	return t.Type + "|" + t.Currency + "|" + FormatAmount(t.Amount, "") + "|" + FormatAmount(t.Fee, "") + "|" + FormatAmount(t.Net, "")
}

// Payout statuses caisse records, and the order Stripe's life of a payout
// goes in: a paid payout may still fail (the bank returns it) but never
// becomes pending again.
func payoutRank(status string) int {
	switch status {
	case "":
		return 0
	case "pending":
		return 2
	case "in_transit":
		return 3
	case "paid":
		return 4
	case "canceled":
		return 5
	case "failed":
		return 6
	}
	return 1
}

// Payout is a transfer of the shop's Stripe balance to its bank account.
type Payout struct {
	// ID is Stripe's id (po_…).
	ID string `json:"id"`
	// Amount is what reached (or was to reach) the bank, in Currency.
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	// ArrivalDate is when the money is expected in the bank (Unix seconds).
	ArrivalDate int64 `json:"arrival_date"`
	// Status is Stripe's: paid, failed (also pending, in_transit, canceled).
	Status string `json:"status"`
	// Automatic is true for a payout Stripe made on the account's schedule:
	// only those list the transactions they carried.
	Automatic bool `json:"automatic"`
	// FailureCode and FailureMessage say why a failed payout failed.
	FailureCode    string `json:"failure_code,omitempty"`
	FailureMessage string `json:"failure_message,omitempty"`
	Created        int64  `json:"created"`
	Livemode       bool   `json:"livemode"`
	// Listed is true once caisse has listed every transaction it carried.
	Listed bool `json:"listed"`
}

// Merge folds other into p. Both describe the same payout.
func (p *Payout) Merge(other Payout) {
	p.ID = settle(p.ID, other.ID)
	p.Amount = max(p.Amount, other.Amount)
	p.Currency = settle(p.Currency, other.Currency)
	p.ArrivalDate = max(p.ArrivalDate, other.ArrivalDate)
	if r, o := payoutRank(p.Status), payoutRank(other.Status); o > r || (o == r && other.Status > p.Status) {
		p.Status = other.Status
	}
	p.Automatic = p.Automatic || other.Automatic
	p.FailureCode = settle(p.FailureCode, other.FailureCode)
	p.FailureMessage = settle(p.FailureMessage, other.FailureMessage)
	if p.Created == 0 || (other.Created != 0 && other.Created < p.Created) {
		p.Created = other.Created
	}
	p.Livemode = p.Livemode || other.Livemode
	p.Listed = p.Listed || other.Listed
}

// Books are an order's money as Stripe's balance saw it: Stripe's fees and
// the net of its charges, refunds and disputes, and the payout that carried
// its payment to the bank.
type Books struct {
	// Fee and Net are the sums over the order's balance transactions
	// (nil while none is known, or when they settle in several
	// currencies, which the list shows apart).
	Fee *int64 `json:"fee"`
	Net *int64 `json:"net"`
	// FeeCurrency is their currency: the settlement currency, which may
	// differ from the order's; ExchangeRate is then the payment's rate.
	FeeCurrency  string  `json:"fee_currency"`
	ExchangeRate float64 `json:"exchange_rate,omitempty"`
	// Payout is the payout that carried the order's payment, once known.
	Payout *OrderPayout `json:"payout"`
	// BalanceTransactions are every balance transaction of the order,
	// oldest first.
	BalanceTransactions []BalanceTransaction `json:"balance_transactions"`
	// Pending is true while a balance transaction of the order is known by
	// its id only: its fee is still being asked of Stripe.
	Pending bool `json:"fee_pending"`
}

// OrderPayout is the payout an order's payment reached the bank in.
type OrderPayout struct {
	ID          string    `json:"id"`
	ArrivalDate time.Time `json:"arrival_date"`
	Status      string    `json:"status"`
}

// payment reports whether a balance transaction brought a payment in.
func (t BalanceTransaction) payment() bool {
	return t.Type == "charge" || t.Type == "payment" || (t.Type == "" && t.Source == t.Charge && t.Charge != "")
}

// BooksOf sums an order's balance transactions (in any order) and names
// the payout of its payment; payouts holds the payouts they name.
func BooksOf(txns []BalanceTransaction, payouts map[string]Payout) Books {
	b := Books{BalanceTransactions: slices.Clone(txns)}
	slices.SortFunc(b.BalanceTransactions, func(x, y BalanceTransaction) int {
		if x.Created != y.Created {
			return int(x.Created - y.Created)
		}
		if x.ID < y.ID {
			return -1
		}
		return 1
	})
	if b.BalanceTransactions == nil {
		b.BalanceTransactions = []BalanceTransaction{}
	}
	var fee, net int64
	currencies := map[string]bool{}
	for _, t := range b.BalanceTransactions {
		if !t.Known {
			b.Pending = true
			continue
		}
		fee += t.Fee
		net += t.Net
		currencies[t.Currency] = true
		b.FeeCurrency = t.Currency
		if t.payment() && t.ExchangeRate != 0 {
			b.ExchangeRate = t.ExchangeRate
		}
		if t.payment() && t.Payout != "" && b.Payout == nil {
			po := payouts[t.Payout]
			b.Payout = &OrderPayout{ID: t.Payout, Status: po.Status}
			if po.ArrivalDate != 0 {
				b.Payout.ArrivalDate = time.Unix(po.ArrivalDate, 0).UTC()
			}
		}
	}
	if len(currencies) == 1 {
		b.Fee, b.Net = &fee, &net
	} else {
		b.FeeCurrency = ""
	}
	return b
}

// PayoutLine is what one kind of money a payout carried adds up to.
type PayoutLine struct {
	// OrderID is the order the money belongs to ("" for none).
	OrderID string `json:"order_id"`
	// Source is the charge, refund or dispute (or other source).
	Source string `json:"source"`
	// BalanceTransaction is its txn_….
	BalanceTransaction string `json:"balance_transaction"`
	Type               string `json:"type"`
	// Gross is the amount (negative for money out), Fee Stripe's fee, Net
	// what it left in the balance.
	Gross    int64  `json:"gross"`
	Fee      int64  `json:"fee"`
	Net      int64  `json:"net"`
	Currency string `json:"currency"`
	Created  int64  `json:"created"`
}

// PayoutReport is a payout with the money it carried, adding up to it:
// Gross − Fee = Net, and Net − Amount = Difference, shown, never hidden.
type PayoutReport struct {
	Payout Payout `json:"payout"`
	// Orders are its charges (money in); Refunds its refunds; Disputes the
	// disputes' withdrawals, reinstatements and fees; Other what belongs to
	// no order (Stripe's own fees, adjustments).
	Orders   []PayoutLine `json:"orders"`
	Refunds  []PayoutLine `json:"refunds"`
	Disputes []PayoutLine `json:"disputes"`
	Other    []PayoutLine `json:"other"`
	// Gross, Fee and Net add up every line.
	Gross int64 `json:"gross"`
	Fee   int64 `json:"fee"`
	Net   int64 `json:"net"`
	// Difference is Net − the payout's amount: zero when every transaction
	// it carried is known and adds up.
	Difference int64 `json:"difference"`
	// Unknown counts transactions listed without their figures.
	Unknown int `json:"unknown"`
}

// ReportPayout sorts a payout's balance transactions into its report and
// adds them up. The payout's own transaction (type payout) is the money
// leaving, not a line.
func ReportPayout(p Payout, txns []BalanceTransaction) PayoutReport {
	r := PayoutReport{Payout: p, Orders: []PayoutLine{}, Refunds: []PayoutLine{}, Disputes: []PayoutLine{}, Other: []PayoutLine{}}
	slices.SortFunc(txns, func(x, y BalanceTransaction) int {
		if x.Created != y.Created {
			return int(x.Created - y.Created)
		}
		if x.ID < y.ID {
			return -1
		}
		return 1
	})
	for _, t := range txns {
		if t.Type == "payout" || t.Source == p.ID {
			continue
		}
		if !t.Known {
			r.Unknown++
			continue
		}
		l := PayoutLine{OrderID: t.OrderID, Source: t.Source, BalanceTransaction: t.ID, Type: t.Type,
			Gross: t.Amount, Fee: t.Fee, Net: t.Net, Currency: t.Currency, Created: t.Created}
		r.Gross += t.Amount
		r.Fee += t.Fee
		r.Net += t.Net
		switch {
		case t.payment():
			r.Orders = append(r.Orders, l)
		case t.Type == "refund" || t.Type == "payment_refund" || t.Type == "payment_failure_refund":
			r.Refunds = append(r.Refunds, l)
		case len(t.Source) > 3 && (t.Source[:3] == "dp_" || t.Source[:3] == "du_"):
			r.Disputes = append(r.Disputes, l)
		default:
			r.Other = append(r.Other, l)
		}
	}
	r.Difference = r.Net - p.Amount
	return r
}

// PayoutFilter selects payouts in a list.
type PayoutFilter struct {
	Page
}

// BooksService reads the books: an order's, and the payouts'.
type BooksService interface {
	// OrderBooks returns an order's fee, net and payout.
	OrderBooks(ctx context.Context, orderID string) (Books, error)
	// FindPayouts lists payouts, newest first.
	FindPayouts(ctx context.Context, f PayoutFilter) ([]*Payout, bool, error)
	// FindPayout returns a payout with the money it carried.
	FindPayout(ctx context.Context, id string) (*PayoutReport, error)
	BooksReader
}

// PayoutFailedMessage is the team alert of a payout that failed, once per
// payout.
func PayoutFailedMessage(p Payout) OutboxMessage {
	return AlertMessage(p.ID, TopicPayoutFailed, "", PayoutFailedAlert(p))
}

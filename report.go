package caisse

import (
	"context"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"
)

// The books by period: every movement of the shop's Stripe balance that
// caisse knows the figures of (a payment, a refund, a dispute's withdrawal,
// Stripe's own fees, a payout), counted on the shop's day (CAISSE_TIMEZONE)
// and per settlement currency. The dashboard, `caisse report` and the
// exports read the same movements and add them up the same way, so the
// sales CSV's columns sum to the dashboard's figures for the same days.

// Movement types, as the sales export writes them.
const (
	MovePayment    = "payment"
	MoveRefund     = "refund"
	MoveDispute    = "dispute"
	MoveFee        = "fee"
	MovePayout     = "payout"
	MoveAdjustment = "adjustment"
)

// MoveType names what a balance transaction is to the books.
func MoveType(t BalanceTransaction) string {
	switch {
	case t.payment():
		return MovePayment
	case t.Type == "refund" || t.Type == "payment_refund" || t.Type == "payment_failure_refund":
		return MoveRefund
	case strings.HasPrefix(t.Source, "dp_") || strings.HasPrefix(t.Source, "du_") || strings.HasPrefix(t.Type, "dispute"):
		return MoveDispute
	case t.Type == "payout" || t.Type == "payout_cancel" || t.Type == "payout_failure" || strings.HasPrefix(t.Source, "po_"):
		return MovePayout
	case strings.Contains(t.Type, "fee"):
		// Stripe's own fees (stripe_fee, tax_fee, stripe_fx_fee…).
		return MoveFee
	}
	return MoveAdjustment
}

// OrderBrief is what the books show of an order: who bought what, and the
// parts of its total (tax, shipping, discount) a payment's share carries.
type OrderBrief struct {
	ID             string
	CustomerName   string
	Lines          []Line
	Currency       string
	AmountTotal    int64
	AmountTax      int64
	AmountShipping int64
	AmountDiscount int64
}

// BooksEntry is a known balance transaction as the store reads it for the
// books, with its order (nil for none) and its payout's arrival date.
type BooksEntry struct {
	BalanceTransaction
	// Count is how many balance transactions the entry adds up (0 is one):
	// the figures of a period are read summed by quarter of an hour.
	Count         int
	Order         *OrderBrief
	PayoutArrival int64
}

// Movement is one line of the books: what a balance transaction moved, in
// its settlement currency's smallest unit. Net = Gross − Fee on every line.
type Movement struct {
	Type               string
	BalanceTransaction string
	Source             string
	// At is when the money moved (the transaction's creation).
	At           time.Time
	OrderID      string
	CustomerName string
	Items        string
	// Gross is the money moved, negative for money out; Tax, Shipping and
	// Discount are the share of the order's that this payment or refund
	// carries (same sign as Gross).
	Gross, Tax, Shipping, Discount, Fee, Net int64
	Currency                                 string
	Payout                                   string
	// PayoutDate is when the payout that carried it reached the bank.
	PayoutDate time.Time
	Livemode   bool
	// Count is how many balance transactions the line adds up (0 is one).
	Count int
}

// MovementOf turns a stored entry into a line of the books. Stripe's own
// fees (a stripe_fee transaction: money out that is all fee) are written
// as a fee, with no gross, so the fee column adds up every fee Stripe kept.
func MovementOf(e BooksEntry) Movement {
	t := e.BalanceTransaction
	m := Movement{Type: MoveType(t), BalanceTransaction: t.ID, Source: t.Source, At: time.Unix(t.Created, 0).UTC(),
		OrderID: t.OrderID, Gross: t.Amount, Fee: t.Fee, Net: t.Net, Currency: t.Currency, Payout: t.Payout, Livemode: t.Livemode,
		Count: e.Count}
	if e.PayoutArrival != 0 {
		m.PayoutDate = time.Unix(e.PayoutArrival, 0).UTC()
	}
	if m.Type == MoveFee {
		// All of it is fee (Net = Gross − Fee still holds, and the rule is
		// the same for a sum of such transactions).
		m.Gross, m.Fee = 0, t.Fee-t.Amount
	}
	if o := e.Order; o != nil {
		m.OrderID, m.CustomerName = o.ID, o.CustomerName
		var items []string
		for _, l := range o.Lines {
			name := cmpOr(l.Name, l.ProductID)
			items = append(items, fmt.Sprintf("%d × %s", l.Quantity, name))
		}
		m.Items = strings.Join(items, ", ")
		if m.Type == MovePayment || m.Type == MoveRefund {
			m.Tax = share(m.Gross, o.AmountTax, o.AmountTotal)
			m.Shipping = share(m.Gross, o.AmountShipping, o.AmountTotal)
			m.Discount = share(m.Gross, o.AmountDiscount, o.AmountTotal)
		}
	}
	return m
}

// share is part/total of amount, rounded half away from zero, with amount's
// sign: the tax a payment of amount carries when the order's total carries
// part. The ratio has no currency, so it holds for a payment settled in
// another currency than the order's. Every figure is within MaxAmount, so
// the product fits 128 bits.
func share(amount, part, total int64) int64 {
	if total <= 0 || part <= 0 || amount == 0 {
		return 0
	}
	part = min(part, total)
	neg := amount < 0
	a := uint64(amount)
	if neg {
		a = uint64(-amount)
	}
	hi, lo := bits.Mul64(a, uint64(part))
	q, r := bits.Div64(hi, lo, uint64(total))
	if r*2 >= uint64(total) {
		q++
	}
	if neg {
		return -int64(q)
	}
	return int64(q)
}

// Figures add up the books of a period in one settlement currency.
type Figures struct {
	Currency string `json:"currency"`
	// Payments counts the payments; Gross is what they brought in.
	Payments int   `json:"payments"`
	Gross    int64 `json:"gross"`
	// Refunds and DisputesLost are what left the balance (positive), a
	// dispute won back counting against its loss.
	Refunds      int64 `json:"refunds"`
	DisputesLost int64 `json:"disputes_lost"`
	// Fees are every fee Stripe kept: on payments, refunds, disputes and
	// its own.
	Fees int64 `json:"fees"`
	// Other is what adjustments moved.
	Other int64 `json:"other"`
	// Net = Gross − Refunds − DisputesLost + Other − Fees: what the period
	// left in the balance.
	Net int64 `json:"net"`
	// PaidOut is what payouts took from the balance to the bank.
	PaidOut int64 `json:"paid_out"`
}

// Add counts a movement in f.
func (f *Figures) Add(m Movement) {
	switch m.Type {
	case MovePayout:
		f.PaidOut -= m.Gross
		return
	case MovePayment:
		f.Payments += max(m.Count, 1)
		f.Gross += m.Gross
	case MoveRefund:
		f.Refunds -= m.Gross
	case MoveDispute:
		f.DisputesLost -= m.Gross
	default:
		f.Other += m.Gross
	}
	f.Fees += m.Fee
	f.Net += m.Net
}

func (f *Figures) plus(o Figures) {
	f.Payments += o.Payments
	f.Gross += o.Gross
	f.Refunds += o.Refunds
	f.DisputesLost += o.DisputesLost
	f.Fees += o.Fees
	f.Other += o.Other
	f.Net += o.Net
	f.PaidOut += o.PaidOut
}

// Period is a run of the shop's days, from From to To, both included.
type Period struct {
	From, To time.Time // midnight of the first day, and of the last, in the shop's zone
}

// Start and End bound the period's instants: [Start, End).
func (p Period) Start() time.Time { return p.From }
func (p Period) End() time.Time   { return p.To.AddDate(0, 0, 1) }

// Days counts the period's days.
func (p Period) Days() int {
	n := 0
	for d := p.From; !d.After(p.To); d = d.AddDate(0, 0, 1) {
		n++
	}
	return n
}

// maxReportDays bounds a period: ten years of days.
const maxReportDays = 3660

// DateLayout is how a day is written: ISO 8601.
const DateLayout = "2006-01-02"

// ParsePeriod reads a period as people give it, from and to as
// YYYY-MM-DD days of the shop's zone, to included.
func ParsePeriod(from, to string, loc *time.Location) (Period, error) {
	if from == "" || to == "" {
		return Period{}, Errorf(EINVALID, "give both from and to, as days such as 2026-11-01 and 2026-11-30 (to is included)")
	}
	f, err := time.ParseInLocation(DateLayout, from, loc)
	if err != nil {
		return Period{}, Errorf(EINVALID, "from %q is not a day: write it as 2026-11-01", from)
	}
	t, err := time.ParseInLocation(DateLayout, to, loc)
	if err != nil {
		return Period{}, Errorf(EINVALID, "to %q is not a day: write it as 2026-11-30", to)
	}
	if t.Before(f) {
		return Period{}, Errorf(EINVALID, "to (%s) is before from (%s)", to, from)
	}
	if t.Sub(f) > maxReportDays*24*time.Hour {
		return Period{}, Errorf(EINVALID, "from %s to %s is over ten years: ask for a shorter period", from, to)
	}
	return Period{From: f, To: t}, nil
}

// LastDays is the period of the n days ending with now's day, in loc.
func LastDays(now time.Time, n int, loc *time.Location) Period {
	now = now.In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	return Period{From: today.AddDate(0, 0, -(n - 1)), To: today}
}

// Day is one day's figures, per currency.
type Day struct {
	Date       string    `json:"date"`
	Currencies []Figures `json:"currencies"`
}

// Report is the books of a period: its figures per currency, and day by day.
type Report struct {
	From     string `json:"from"`
	To       string `json:"to"`
	TimeZone string `json:"timezone"`
	// Livemode says which of Stripe's modes the figures are of: never both.
	Livemode   bool      `json:"livemode"`
	Currencies []Figures `json:"currencies"`
	Days       []Day     `json:"days"`
	// Pending counts the balance transactions whose figures caisse is
	// still asking Stripe for (in no period yet), and Note says why the
	// figures may be incomplete, or is empty.
	Pending int    `json:"pending"`
	Note    string `json:"note,omitempty"`
}

// ReportBuilder adds movements up by day and currency, in constant memory
// for a period (a day and currency is one Figures).
type ReportBuilder struct {
	period Period
	loc    *time.Location
	days   []map[string]*Figures
}

// NewReportBuilder starts the report of period in the shop's zone.
func NewReportBuilder(p Period, loc *time.Location) *ReportBuilder {
	b := &ReportBuilder{period: p, loc: loc, days: make([]map[string]*Figures, p.Days())}
	for i := range b.days {
		b.days[i] = map[string]*Figures{}
	}
	return b
}

// Add counts a movement on its day; one outside the period is left out.
func (b *ReportBuilder) Add(m Movement) {
	i := b.dayIndex(m.At)
	if i < 0 {
		return
	}
	f := b.days[i][m.Currency]
	if f == nil {
		f = &Figures{Currency: m.Currency}
		b.days[i][m.Currency] = f
	}
	f.Add(m)
}

// dayIndex is the index of the shop's day t falls on, or -1.
func (b *ReportBuilder) dayIndex(t time.Time) int {
	t = t.In(b.loc)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, b.loc)
	if day.Before(b.period.From) || day.After(b.period.To) {
		return -1
	}
	// Days are 23 to 25 hours long across a change of time: count them.
	i := int(day.Sub(b.period.From).Hours() / 24)
	for i > 0 && b.period.From.AddDate(0, 0, i).After(day) {
		i--
	}
	for !b.period.From.AddDate(0, 0, i).Equal(day) {
		i++
	}
	return i
}

// Report is what the builder added up, for the days of sub (which must be
// within the builder's period; the zero Period is the whole period).
func (b *ReportBuilder) Report(sub Period) Report {
	if sub.From.IsZero() {
		sub = b.period
	}
	r := Report{From: sub.From.Format(DateLayout), To: sub.To.Format(DateLayout), TimeZone: b.loc.String(),
		Currencies: []Figures{}, Days: []Day{}}
	total := map[string]*Figures{}
	for i, day := range b.days {
		d := b.period.From.AddDate(0, 0, i)
		if d.Before(sub.From) || d.After(sub.To) {
			continue
		}
		r.Days = append(r.Days, Day{Date: d.Format(DateLayout), Currencies: sortedFigures(day)})
		for c, f := range day {
			if total[c] == nil {
				total[c] = &Figures{Currency: c}
			}
			total[c].plus(*f)
		}
	}
	r.Currencies = sortedFigures(total)
	return r
}

func sortedFigures(m map[string]*Figures) []Figures {
	out := make([]Figures, 0, len(m))
	for _, f := range m {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b Figures) int { return strings.Compare(a.Currency, b.Currency) })
	return out
}

// BooksFilter selects the movements of the books.
type BooksFilter struct {
	// From and To bound the movements' instants: [From, To).
	From, To time.Time
	// Livemode selects live-mode money, else test-mode money.
	Livemode bool
	// Orders asks for each movement's order (the exports'); the figures
	// alone need none.
	Orders bool
}

// BooksReader reads the books' movements.
type BooksReader interface {
	// EachMovement calls fn with each known balance transaction of f, by
	// time then id, reading them as it goes (constant memory); fn's error
	// stops it.
	EachMovement(ctx context.Context, f BooksFilter, fn func(BooksEntry) error) error
	// SumMovements is EachMovement summed by bucket of seconds (of the
	// Unix time), currency and kind of movement, without orders: what the
	// figures of a period need, read in far fewer rows.
	SumMovements(ctx context.Context, f BooksFilter, bucket int64, fn func(BooksEntry) error) error
	// BalancePending counts the balance transactions known by id only.
	BalancePending(ctx context.Context) (int, error)
}

// reportBucket is how finely the figures of a period are read summed:
// every time zone's offset from UTC, and every change of time, is a
// multiple of a quarter of an hour, so each bucket falls on one shop day.
const reportBucket = 15 * 60

// BuildReport adds up the books of a period in the shop's zone and mode.
func BuildReport(ctx context.Context, br BooksReader, p Period, loc *time.Location, livemode bool) (*ReportBuilder, int, error) {
	b := NewReportBuilder(p, loc)
	err := br.SumMovements(ctx, BooksFilter{From: p.Start(), To: p.End(), Livemode: livemode}, reportBucket, func(e BooksEntry) error {
		b.Add(MovementOf(e))
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	pending, err := br.BalancePending(ctx)
	if err != nil {
		return nil, 0, err
	}
	return b, pending, nil
}

// What a report's note says (in English; the pages translate them).
const (
	NoteNoKey   = "caisse learns Stripe's figures (amounts, fees, net, payouts) through Stripe's API, which needs STRIPE_SECRET_KEY: without it the books stay empty."
	NotePending = "caisse is asking Stripe for the figures of %d payments, refunds or disputes: they count once known."
)

// BooksNote says why the books may miss money, as a format (NoteNoKey or
// NotePending) and its arguments, or "" when they miss nothing known.
func BooksNote(hasKey bool, pending int) (string, []any) {
	switch {
	case !hasKey:
		return NoteNoKey, nil
	case pending > 0:
		return NotePending, []any{pending}
	}
	return "", nil
}

// NewReport adds up the books of a period in the shop's zone and mode,
// and says in its note why they may miss money (hasKey: caisse has a
// secret key to ask Stripe for the figures).
func NewReport(ctx context.Context, br BooksReader, p Period, loc *time.Location, livemode, hasKey bool) (*Report, error) {
	b, pending, err := BuildReport(ctx, br, p, loc, livemode)
	if err != nil {
		return nil, err
	}
	rep := b.Report(Period{})
	rep.Livemode, rep.Pending = livemode, pending
	if format, args := BooksNote(hasKey, pending); format != "" {
		rep.Note = fmt.Sprintf(format, args...)
	}
	return &rep, nil
}

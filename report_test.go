package caisse_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
)

func paris(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// A month's balance transactions: payments with tax and shipping, a
// partial refund, a dispute lost then one won back, Stripe's own fee, a
// payout, and an adjustment.
func monthEntries() []caisse.BooksEntry {
	at := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return tm.Unix()
	}
	order := &caisse.OrderBrief{ID: "o1", CustomerName: "=Camille Durand", Currency: "eur", AmountTotal: 12000, AmountTax: 2000, AmountShipping: 600,
		Lines: []caisse.Line{{ProductID: "tee-m", Name: "T-shirt, M", Quantity: 2, UnitAmount: 5700}}}
	order2 := &caisse.OrderBrief{ID: "o2", CustomerName: "Jo", Currency: "usd", AmountTotal: 5000, AmountTax: 1000}
	return []caisse.BooksEntry{
		{BalanceTransaction: caisse.BalanceTransaction{ID: "txn_1", Type: "charge", Source: "ch_1", Charge: "ch_1", Amount: 12000, Fee: 205, Net: 11795,
			Currency: "eur", Created: at("2026-11-03T09:00:00Z"), Payout: "po_1", Known: true}, Order: order, PayoutArrival: at("2026-11-10T00:00:00Z")},
		// A payment in dollars settled in euros: its tax is the order's share.
		{BalanceTransaction: caisse.BalanceTransaction{ID: "txn_2", Type: "charge", Source: "ch_2", Charge: "ch_2", Amount: 4600, Fee: 110, Net: 4490,
			Currency: "eur", ExchangeRate: 0.92, Created: at("2026-11-04T12:00:00Z"), Known: true}, Order: order2},
		{BalanceTransaction: caisse.BalanceTransaction{ID: "txn_3", Type: "refund", Source: "re_1", Charge: "ch_1", Amount: -6000, Fee: 0, Net: -6000,
			Currency: "eur", Created: at("2026-11-05T12:00:00Z"), Known: true}, Order: order},
		{BalanceTransaction: caisse.BalanceTransaction{ID: "txn_4", Type: "adjustment", Source: "dp_1", Charge: "ch_2", Amount: -4600, Fee: 1500, Net: -6100,
			Currency: "eur", Created: at("2026-11-06T12:00:00Z"), Known: true}, Order: order2},
		{BalanceTransaction: caisse.BalanceTransaction{ID: "txn_5", Type: "adjustment", Source: "dp_2", Charge: "ch_9", Amount: 1000, Fee: -1500, Net: 2500,
			Currency: "eur", Created: at("2026-11-07T12:00:00Z"), Known: true}},
		{BalanceTransaction: caisse.BalanceTransaction{ID: "txn_6", Type: "stripe_fee", Source: "", Amount: -300, Fee: 0, Net: -300,
			Currency: "eur", Created: at("2026-11-08T12:00:00Z"), Known: true}},
		{BalanceTransaction: caisse.BalanceTransaction{ID: "txn_7", Type: "payout", Source: "po_1", Payout: "po_1", Amount: -11795, Net: -11795,
			Currency: "eur", Created: at("2026-11-10T00:00:00Z"), Known: true}, PayoutArrival: at("2026-11-10T00:00:00Z")},
		{BalanceTransaction: caisse.BalanceTransaction{ID: "txn_8", Type: "reserve_transaction", Source: "", Amount: -50, Net: -50,
			Currency: "eur", Created: at("2026-11-11T12:00:00Z"), Known: true}},
		// 23:30 UTC on the 30th is already December in Paris.
		{BalanceTransaction: caisse.BalanceTransaction{ID: "txn_9", Type: "charge", Source: "ch_3", Charge: "ch_3", Amount: 999, Fee: 40, Net: 959,
			Currency: "eur", Created: at("2026-11-30T23:30:00Z"), Known: true}},
	}
}

func TestMovementOf(t *testing.T) {
	ms := map[string]caisse.Movement{}
	for _, e := range monthEntries() {
		m := caisse.MovementOf(e)
		ms[m.BalanceTransaction] = m
		if m.Net != m.Gross-m.Fee {
			t.Errorf("%s: net %d ≠ gross %d − fee %d", m.BalanceTransaction, m.Net, m.Gross, m.Fee)
		}
	}
	for id, want := range map[string]string{"txn_1": caisse.MovePayment, "txn_3": caisse.MoveRefund, "txn_4": caisse.MoveDispute,
		"txn_5": caisse.MoveDispute, "txn_6": caisse.MoveFee, "txn_7": caisse.MovePayout, "txn_8": caisse.MoveAdjustment} {
		if ms[id].Type != want {
			t.Errorf("%s is a %s, want %s", id, ms[id].Type, want)
		}
	}
	if m := ms["txn_1"]; m.Tax != 2000 || m.Shipping != 600 || m.Items != "2 × T-shirt, M" || m.OrderID != "o1" || m.PayoutDate.IsZero() {
		t.Errorf("payment: %+v", m)
	}
	// Half the order refunded carries half its tax, with the refund's sign.
	if m := ms["txn_3"]; m.Tax != -1000 || m.Shipping != -300 {
		t.Errorf("refund: tax %d, shipping %d", m.Tax, m.Shipping)
	}
	// 4600 settled of a 5000 order whose tax is a fifth: 920.
	if m := ms["txn_2"]; m.Tax != 920 {
		t.Errorf("foreign payment: tax %d, want 920", m.Tax)
	}
	// Stripe's own fee is all fee.
	if m := ms["txn_6"]; m.Gross != 0 || m.Fee != 300 || m.Net != -300 {
		t.Errorf("stripe fee: %+v", m)
	}
	// A dispute's tax stays in the sale.
	if m := ms["txn_4"]; m.Tax != 0 {
		t.Errorf("dispute: tax %d", m.Tax)
	}
}

func TestReportByShopDays(t *testing.T) {
	loc := paris(t)
	p, err := caisse.ParsePeriod("2026-11-01", "2026-11-30", loc)
	if err != nil {
		t.Fatal(err)
	}
	b := caisse.NewReportBuilder(p, loc)
	for _, e := range monthEntries() {
		b.Add(caisse.MovementOf(e))
	}
	r := b.Report(caisse.Period{})
	if len(r.Days) != 30 || r.Days[0].Date != "2026-11-01" || r.Days[29].Date != "2026-11-30" || r.TimeZone != "Europe/Paris" {
		t.Fatalf("days: %d, %s … %s, %s", len(r.Days), r.Days[0].Date, r.Days[len(r.Days)-1].Date, r.TimeZone)
	}
	want := caisse.Figures{Currency: "eur", Payments: 2, Gross: 16600, Refunds: 6000, DisputesLost: 3600, Fees: 205 + 110 + 1500 - 1500 + 300,
		Other: -50, PaidOut: 11795}
	want.Net = want.Gross - want.Refunds - want.DisputesLost + want.Other - want.Fees
	if len(r.Currencies) != 1 || r.Currencies[0] != want {
		t.Fatalf("November in Paris:\n got %+v\nwant %+v", r.Currencies, want)
	}
	// The payment at 23:30 UTC on the 30th is November's in UTC.
	pu, _ := caisse.ParsePeriod("2026-11-01", "2026-11-30", time.UTC)
	bu := caisse.NewReportBuilder(pu, time.UTC)
	for _, e := range monthEntries() {
		bu.Add(caisse.MovementOf(e))
	}
	if got := bu.Report(caisse.Period{}).Currencies[0]; got.Payments != 3 || got.Gross != 16600+999 {
		t.Errorf("November in UTC: %+v", got)
	}
	// A week of it; and a day's figures.
	w := b.Report(caisse.Period{From: p.From.AddDate(0, 0, 2), To: p.From.AddDate(0, 0, 8)})
	if w.From != "2026-11-03" || w.To != "2026-11-09" || len(w.Days) != 7 || w.Currencies[0].PaidOut != 0 || w.Currencies[0].Payments != 2 {
		t.Errorf("a week: %+v", w)
	}
	if d := r.Days[2]; len(d.Currencies) != 1 || d.Currencies[0].Gross != 12000 || d.Currencies[0].Net != 11795 {
		t.Errorf("3 November: %+v", d)
	}
}

// Days across the change of time (25 October 2026 is 25 hours long in
// Paris) each count their own movements.
func TestReportAcrossChangeOfTime(t *testing.T) {
	loc := paris(t)
	p, _ := caisse.ParsePeriod("2026-10-24", "2026-10-27", loc)
	b := caisse.NewReportBuilder(p, loc)
	for i, at := range []string{"2026-10-24T21:59:00Z", "2026-10-24T22:00:00Z", "2026-10-25T22:59:00Z", "2026-10-25T23:00:00Z", "2026-10-27T22:59:00Z", "2026-10-27T23:00:00Z"} {
		tm, _ := time.Parse(time.RFC3339, at)
		b.Add(caisse.Movement{Type: caisse.MovePayment, Currency: "eur", Gross: int64(1 << i), Net: int64(1 << i), At: tm})
	}
	r := b.Report(caisse.Period{})
	got := map[string]int64{}
	for _, d := range r.Days {
		for _, f := range d.Currencies {
			got[d.Date] = f.Gross
		}
	}
	want := map[string]int64{"2026-10-24": 1, "2026-10-25": 2 + 4, "2026-10-26": 8, "2026-10-27": 16}
	if len(got) != len(want) {
		t.Fatalf("days: %v, want %v", got, want)
	}
	for d, v := range want {
		if got[d] != v {
			t.Errorf("%s: %d, want %d (all: %v)", d, got[d], v, got)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	for _, c := range [][2]string{{"", "2026-11-30"}, {"2026-11-01", ""}, {"1/11/2026", "2026-11-30"}, {"2026-11-01", "2026-11-31"},
		{"2026-12-01", "2026-11-30"}, {"2000-01-01", "2026-11-30"}} {
		if _, err := caisse.ParsePeriod(c[0], c[1], time.UTC); caisse.ErrorCode(err) != caisse.EINVALID {
			t.Errorf("from %q to %q: %v", c[0], c[1], err)
		}
	}
	p, err := caisse.ParsePeriod("2026-11-01", "2026-11-01", paris(t))
	if err != nil || p.Days() != 1 || p.End().Sub(p.Start()) != 24*time.Hour || p.Start().UTC().Hour() != 23 {
		t.Errorf("one day: %+v %v", p, err)
	}
}

// The sales CSV: RFC 4180 with a header, a line per movement, amounts in
// units with a dot, the shop's days; the French variant with decimal
// commas and semicolons; a name a spreadsheet would run as a formula
// written as text. Its columns add up to the report's figures.
func TestSalesCSV(t *testing.T) {
	for _, locale := range []string{"en", "fr"} {
		var buf bytes.Buffer
		w := caisse.NewSalesCSV(&buf, paris(t), locale)
		var f caisse.Figures
		for _, e := range monthEntries() {
			m := caisse.MovementOf(e)
			f.Add(m)
			if err := w.Write(m); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r := csv.NewReader(bytes.NewReader(buf.Bytes()))
		if locale == "fr" {
			r.Comma = ';'
		}
		rows, err := r.ReadAll()
		if err != nil {
			t.Fatalf("%s: %v\n%s", locale, err, buf.String())
		}
		if strings.Join(rows[0], ",") != strings.Join(caisse.SalesColumns, ",") || len(rows) != 1+len(monthEntries()) {
			t.Fatalf("%s: header %v, %d rows", locale, rows[0], len(rows))
		}
		col := map[string]int{}
		for i, c := range rows[0] {
			col[c] = i
		}
		num := func(s string) int64 {
			if locale == "fr" {
				if strings.Contains(s, ".") {
					t.Errorf("a French amount with a dot: %q", s)
				}
				s = strings.Replace(s, ",", ".", 1)
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("amount %q: %v", s, err)
			}
			return int64(v*100 + map[bool]float64{true: 0.5, false: -0.5}[v >= 0])
		}
		var got caisse.Figures
		got.Currency = "eur"
		for _, row := range rows[1:] {
			gross, fee, net := num(row[col["gross"]]), num(row[col["fee"]]), num(row[col["net"]])
			switch row[col["type"]] {
			case "payment":
				got.Payments++
				got.Gross += gross
			case "refund":
				got.Refunds -= gross
			case "dispute":
				got.DisputesLost -= gross
			case "payout":
				got.PaidOut -= gross
				continue
			default:
				got.Other += gross
			}
			got.Fees += fee
			got.Net += net
		}
		f.Currency = "eur"
		if got != f {
			t.Errorf("%s: the CSV adds up to %+v, the report to %+v", locale, got, f)
		}
		first := rows[1]
		if first[col["date"]] != "2026-11-03" || first[col["customer_name"]] != "'=Camille Durand" || first[col["currency"]] != "EUR" ||
			first[col["payout_date"]] != "2026-11-10" || first[col["items"]] != "2 × T-shirt, M" {
			t.Errorf("%s: first line %q", locale, first)
		}
		if locale == "fr" && first[col["gross"]] != "120,00" || locale == "en" && first[col["gross"]] != "120.00" {
			t.Errorf("%s: gross written %q", locale, first[col["gross"]])
		}
		if last := rows[len(rows)-1]; last[col["date"]] != "2026-12-01" {
			t.Errorf("%s: 23:30 UTC on 30 November is written %s, not the shop's day", locale, last[col["date"]])
		}
	}
}

// FECLine is one line of a FEC file, as the format defines its columns.
type fecLine map[string]string

// readFEC parses a FEC file as the format says: a header of the 18 column
// names, then lines of 18 tab-separated fields.
func readFEC(t *testing.T, data string) []fecLine {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(data, "\r\n"), "\r\n")
	header := strings.Split(lines[0], "\t")
	if len(header) != 18 || strings.Join(header, "|") != strings.Join(caisse.FECColumns, "|") || header[0] != "JournalCode" || header[17] != "Idevise" {
		t.Fatalf("FEC header: %q", header)
	}
	var out []fecLine
	for i, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != 18 {
			t.Fatalf("FEC line %d has %d columns: %q", i+2, len(f), l)
		}
		m := fecLine{}
		for j, c := range header {
			m[c] = f[j]
		}
		out = append(out, m)
	}
	return out
}

// fecCents reads a FEC amount: digits, a decimal comma, two decimals.
func fecCents(t *testing.T, s string) int64 {
	t.Helper()
	whole, frac, ok := strings.Cut(s, ",")
	if !ok || len(frac) != 2 || strings.ContainsAny(whole, ". ") {
		t.Fatalf("FEC amount %q is not written with a decimal comma and two decimals", s)
	}
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || v < 0 {
		t.Fatalf("FEC amount %q: %v", s, err)
	}
	return v
}

// checkFEC checks every entry balances and its numbering runs on, and
// returns the balance of each account (debits − credits).
func checkFEC(t *testing.T, lines []fecLine) map[string]int64 {
	t.Helper()
	entries := map[string]int64{}
	order := []string{}
	accounts := map[string]int64{}
	for _, l := range lines {
		d, c := fecCents(t, l["Debit"]), fecCents(t, l["Credit"])
		if (d == 0) == (c == 0) {
			t.Errorf("a line is both or neither debit and credit: %v", l)
		}
		if _, err := time.Parse("20060102", l["EcritureDate"]); err != nil || l["PieceDate"] != l["EcritureDate"] {
			t.Errorf("dates %q %q", l["EcritureDate"], l["PieceDate"])
		}
		if l["JournalCode"] == "" || l["CompteNum"] == "" || l["CompteLib"] == "" || l["EcritureLib"] == "" || l["PieceRef"] == "" {
			t.Errorf("a required column is empty: %v", l)
		}
		n := l["EcritureNum"]
		if _, ok := entries[n]; !ok {
			order = append(order, n)
		}
		entries[n] += d - c
		accounts[l["CompteNum"]] += d - c
	}
	for i, n := range order {
		if n != strconv.Itoa(i+1) {
			t.Errorf("entry %d is numbered %s", i+1, n)
		}
		if entries[n] != 0 {
			t.Errorf("entry %s does not balance: debits − credits = %d", n, entries[n])
		}
	}
	return accounts
}

func TestFEC(t *testing.T) {
	accounts, err := caisse.ParseAccounts("sales=7071, bank=5121")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := caisse.NewFEC(&buf, accounts, paris(t))
	var f caisse.Figures
	var tax int64
	for _, e := range monthEntries() {
		m := caisse.MovementOf(e)
		f.Add(m)
		tax += m.Tax
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readFEC(t, buf.String())
	bal := checkFEC(t, lines)
	// The customers are settled; the Stripe balance holds the net less
	// what was paid out; the bank what was paid out; the fees, sales and
	// VAT what the report says.
	f.Currency = "eur"
	if bal["411"] != 0 || bal["58"] != f.Net-f.PaidOut || bal["5121"] != f.PaidOut || bal["627"] != f.Fees ||
		bal["44571"] != -tax || bal["7071"] != -(f.Gross-f.Refunds-tax) || bal["658"] != f.DisputesLost-f.Other {
		t.Errorf("balances %v; figures %+v, tax %d", bal, f, tax)
	}
	if bal["707"] != 0 || bal["512"] != 0 {
		t.Errorf("the default accounts are used despite CAISSE_ACCOUNTS: %v", bal)
	}
	journals := map[string]bool{}
	for _, l := range lines {
		journals[l["JournalCode"]] = true
	}
	if !journals[caisse.JournalSales] || !journals[caisse.JournalStripe] || len(journals) != 2 {
		t.Errorf("journals %v", journals)
	}
	// Money settled in another currency than the euro says which, each
	// line's amount unsigned.
	buf.Reset()
	w = caisse.NewFEC(&buf, caisse.DefaultAccounts, time.UTC)
	if err := w.Write(caisse.Movement{Type: caisse.MovePayment, Gross: 1000, Fee: 59, Net: 941, Currency: "usd", OrderID: "o9"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	usd := readFEC(t, buf.String())
	checkFEC(t, usd)
	for _, l := range usd {
		if l["Idevise"] != "USD" || (l["Montantdevise"] != l["Debit"] && l["Montantdevise"] != l["Credit"]) || strings.HasPrefix(l["Montantdevise"], "-") {
			t.Errorf("a line in dollars: %v", l)
		}
	}
	for _, l := range lines {
		if l["Idevise"] != "" || l["Montantdevise"] != "" {
			t.Errorf("a line in euros names a currency: %v", l)
		}
	}
	// An empty period is the header alone.
	buf.Reset()
	w = caisse.NewFEC(&buf, caisse.DefaultAccounts, time.UTC)
	if err := w.Close(); err != nil || buf.String() != strings.Join(caisse.FECColumns, "\t")+"\r\n" {
		t.Errorf("empty FEC: %q %v", buf.String(), err)
	}
	// A movement that does not add up is refused, not written unbalanced.
	if err := w.Write(caisse.Movement{Type: caisse.MovePayment, Gross: 100, Fee: 3, Net: 90, Currency: "eur"}); err == nil {
		t.Errorf("an unbalanced movement was written")
	}
}

func TestParseAccounts(t *testing.T) {
	a, err := caisse.ParseAccounts("")
	if err != nil || a != caisse.DefaultAccounts || a.Customers != "411" || a.Sales != "707" || a.VAT != "44571" || a.Fees != "627" ||
		a.Bank != "512" || a.Transit != "58" {
		t.Errorf("defaults: %+v %v", a, err)
	}
	if a, err := caisse.ParseAccounts(caisse.DefaultAccounts.String()); err != nil || a != caisse.DefaultAccounts {
		t.Errorf("String does not read back: %+v %v", a, err)
	}
	for _, bad := range []string{"sale=707", "sales", "sales=", "sales=70 7", "sales=707;fees=627", "bank=" + strings.Repeat("5", 21)} {
		if _, err := caisse.ParseAccounts(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// failingBooks reads the month's entries, then fails after n of them.
type failingBooks struct{ n int }

func (f failingBooks) EachMovement(_ context.Context, _ caisse.BooksFilter, fn func(caisse.BooksEntry) error) error {
	for i := 0; ; i++ {
		if i == f.n {
			return errors.New("the database went away")
		}
		e := monthEntries()[i%len(monthEntries())]
		e.ID += "_" + strconv.Itoa(i)
		if err := fn(e); err != nil {
			return err
		}
	}
}

func (failingBooks) SumMovements(context.Context, caisse.BooksFilter, int64, func(caisse.BooksEntry) error) error {
	return errors.New("not summed here")
}

func (failingBooks) BalancePending(context.Context) (int, error) { return 0, nil }

// An export says how much it sent before failing: nothing when the
// database fails at once (the caller can still answer with the error),
// the rows so far when it fails half-way (the file can only be cut short).
func TestExportSalesSaysWhatItSent(t *testing.T) {
	p, _ := caisse.ParsePeriod("2026-11-01", "2026-11-30", time.UTC)
	for _, format := range []string{"csv", "fec"} {
		var buf bytes.Buffer
		sent, err := caisse.ExportSales(context.Background(), failingBooks{n: 0}, &buf, caisse.Export{Period: p, Format: format})
		if err == nil || sent != 0 || buf.Len() != 0 {
			t.Errorf("%s failing at once: sent %d (%d bytes), %v", format, sent, buf.Len(), err)
		}
		buf.Reset()
		sent, err = caisse.ExportSales(context.Background(), failingBooks{n: 5000}, &buf, caisse.Export{Period: p, Format: format})
		if err == nil || sent == 0 || sent != int64(buf.Len()) {
			t.Errorf("%s failing half-way: sent %d (%d bytes), %v", format, sent, buf.Len(), err)
		}
	}
	if _, err := caisse.ExportSales(context.Background(), failingBooks{}, io.Discard, caisse.Export{Period: p, Format: "xls"}); caisse.ErrorCode(err) != caisse.EINVALID {
		t.Errorf("format xls: %v", err)
	}
	var fec bytes.Buffer
	if _, err := caisse.ExportSales(context.Background(), failingBooks{n: 5000}, &fec, caisse.Export{Period: p, Format: "fec"}); err == nil ||
		!strings.Contains(fec.String(), "\t411\tClients\t") {
		t.Errorf("a FEC asked without accounts does not use the defaults: %v\n%s", err, fec.String())
	}
	x := caisse.Export{Period: p, Livemode: true, Format: "fec"}
	if x.FileName() != "sales-2026-11-01-2026-11-30.fec.txt" {
		t.Errorf("file name %q", x.FileName())
	}
}

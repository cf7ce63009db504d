package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/internal/stripemock"
	"github.com/caisse/caisse/stripe"
)

// payoutReport reads a payout with the money it carried.
func (a *app) payoutReport(id string) caisse.PayoutReport {
	a.t.Helper()
	var r caisse.PayoutReport
	if s := a.admin(http.MethodGet, "/api/admin/payouts/"+id, nil, &r); s != http.StatusOK {
		a.t.Fatalf("GET payout %s: %d", id, s)
	}
	return r
}

// A month of orders, some refunded in part, one lost to a dispute, paid out
// in two automatic payouts: each order learns its fee and net (from the
// event when the charge carries its balance transaction, else from
// Stripe's API) and the payout its money reached the bank in, and each
// payout adds up: its orders, less its refunds and disputes, less Stripe's
// fees, are its amount. The second payout's event comes before its orders'
// payments, and every payout event twice: the books converge all the same.
func TestPayoutsAddUpOverAMonth(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		f := stripemock.NewFake(t)
		a := setup(t, db, withStripe(f.URL), func(env map[string]string) { env["CAISSE_TIMEZONE"] = "Europe/Paris" })
		a.putPrice("print", 2500, 100)
		start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
		arrival := map[string]time.Time{"po_nov_a": time.Date(2026, 11, 17, 0, 0, 0, 0, time.UTC), "po_nov_b": time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}
		amounts := map[string]int64{}
		fees := map[string]int64{} // by order
		nets := map[string]int64{}
		payoutOf := func(day int) string {
			if day < 15 {
				return "po_nov_a"
			}
			return "po_nov_b"
		}
		var orders []stripe.Example
		for i := range 10 {
			day := i * 3
			id := fmt.Sprintf("books-%02d", i)
			amount := int64(2500 * (1 + i%3))
			fee := amount*15/1000 + 25
			po := payoutOf(day)
			created := start.AddDate(0, 0, day)
			ex := stripe.Example{OrderID: id, ProductID: "print", Quantity: 1 + int64(i%3), Amount: amount, Created: created}
			if i%2 == 0 {
				// Half the charges carry their balance transaction expanded.
				ex.Fee = fee
			}
			orders = append(orders, ex)
			f.AddBalanceTransaction(stripemock.BalanceTransaction{ID: "txn_" + id, Type: "charge", Amount: amount, Fee: fee, Currency: "eur",
				Source: "ch_" + id, Payout: po, Created: created.Unix(), AvailableOn: created.AddDate(0, 0, 2).Unix()})
			amounts[po] += amount - fee
			fees[id], nets[id] = fee, amount-fee
		}
		// The second payout is announced before its orders are paid.
		payout := func(po string) stripe.Example {
			return stripe.Example{Type: "payout.paid", Payout: po, Amount: amounts[po], ArrivalDate: arrival[po], Created: arrival[po]}
		}
		// Refunds of 1000 on books-01 and books-07; books-04's dispute is lost, with Stripe's 15.00 fee.
		f.AddBalanceTransaction(stripemock.BalanceTransaction{ID: "txn_re_books-01", Type: "refund", Amount: -1000, Currency: "eur",
			Source: "re_books-01", Charge: "ch_books-01", Payout: "po_nov_a", Created: start.AddDate(0, 0, 5).Unix()})
		f.AddBalanceTransaction(stripemock.BalanceTransaction{ID: "txn_re_books-07", Type: "refund", Amount: -1000, Currency: "eur",
			Source: "re_books-07", Charge: "ch_books-07", Payout: "po_nov_b", Created: start.AddDate(0, 0, 22).Unix()})
		f.AddBalanceTransaction(stripemock.BalanceTransaction{ID: "txn_dp_books-04", Type: "adjustment", Amount: -orders[4].Amount, Fee: 1500,
			Currency: "eur", Source: "dp_books-04", Charge: "ch_books-04", Payout: "po_nov_a", Created: start.AddDate(0, 0, 13).Unix()})
		amounts["po_nov_a"] += -1000 - orders[4].Amount - 1500
		amounts["po_nov_b"] += -1000
		nets["books-01"] -= 1000
		nets["books-07"] -= 1000
		fees["books-04"] += 1500
		nets["books-04"] += -orders[4].Amount - 1500
		// The payouts' own transactions, which the list holds too.
		for po, amount := range amounts {
			f.AddBalanceTransaction(stripemock.BalanceTransaction{ID: "txn_" + po, Type: "payout", Amount: -amount, Currency: "eur",
				Source: po, Payout: po, Created: arrival[po].Unix()})
		}

		a.process(payout("po_nov_b"))
		for i, ex := range orders {
			for _, typ := range []string{"checkout.session.completed", "payment_intent.succeeded", "charge.succeeded"} {
				e := ex
				e.Type = typ
				a.process(e)
			}
			switch i {
			case 1, 7:
				e := ex
				e.Type, e.Refunded, e.Refund = "charge.refunded", 1000, "re_"+ex.OrderID
				a.process(e)
			case 4:
				for _, typ := range []string{"charge.dispute.created", "charge.dispute.closed"} {
					e := ex
					e.Type, e.DisputeFee = typ, 1500
					a.process(e)
				}
			}
		}
		a.process(payout("po_nov_a"), payout("po_nov_b"), payout("po_nov_a"))

		for po, amount := range amounts {
			a.until("payout "+po+" listed and adding up", func() bool {
				r := a.payoutReport(po)
				return r.Payout.Listed && r.Unknown == 0 && r.Net == amount
			})
			r := a.payoutReport(po)
			var gross, refunds, disputes, fee int64
			for _, l := range r.Orders {
				gross += l.Gross
				fee += l.Fee
				if l.OrderID == "" {
					t.Errorf("payout %s: payment %s has no order", po, l.Source)
				}
			}
			for _, l := range r.Refunds {
				refunds += l.Gross
				fee += l.Fee
			}
			for _, l := range r.Disputes {
				disputes += l.Gross
				fee += l.Fee
			}
			if gross+refunds+disputes-fee != r.Payout.Amount || r.Difference != 0 || len(r.Other) != 0 || fee != r.Fee {
				t.Errorf("payout %s: orders %d + refunds %d + disputes %d − fees %d ≠ %d (difference %d, other %v)",
					po, gross, refunds, disputes, fee, r.Payout.Amount, r.Difference, r.Other)
			}
			if wantDisputes := map[string]int{"po_nov_a": 1}[po]; len(r.Orders) != 5 || len(r.Refunds) != 1 || len(r.Disputes) != wantDisputes {
				t.Errorf("payout %s carried %d payments, %d refunds, %d disputes", po, len(r.Orders), len(r.Refunds), len(r.Disputes))
			}
			if r.Payout.Amount != amount || r.Payout.Status != "paid" || !r.Payout.Automatic || r.Payout.ArrivalDate != arrival[po].Unix() {
				t.Errorf("payout %s: %+v", po, r.Payout)
			}
		}
		for i, ex := range orders {
			o := a.order(ex.OrderID)
			po := payoutOf(i * 3)
			if o.Fee == nil || *o.Fee != fees[ex.OrderID] || o.Net == nil || *o.Net != nets[ex.OrderID] || o.FeeCurrency != "eur" {
				t.Errorf("order %s: fee %v net %v %s, want %d and %d", ex.OrderID, o.Fee, o.Net, o.FeeCurrency, fees[ex.OrderID], nets[ex.OrderID])
			}
			if o.Payout == nil || o.Payout.ID != po || !o.Payout.ArrivalDate.Equal(arrival[po]) {
				t.Errorf("order %s: payout %+v, want %s on %s", ex.OrderID, o.Payout, po, arrival[po])
			}
		}
		if out, err := a.cli("orders", "show", "books-04"); err != nil || !strings.Contains(out, "po_nov_a, in the bank on 2026-11-17") ||
			!strings.Contains(out, "stripe fee") {
			t.Errorf("orders show: %v\n%s", err, out)
		}
		var list struct {
			Data []caisse.Payout `json:"data"`
		}
		if s := a.admin(http.MethodGet, "/api/admin/payouts", nil, &list); s != http.StatusOK || len(list.Data) != 2 {
			t.Fatalf("GET /api/admin/payouts: %d %+v", s, list.Data)
		}
		if s := a.admin(http.MethodGet, "/api/admin/payouts/po_missing", nil, nil); s != http.StatusNotFound {
			t.Fatalf("an unknown payout answered %d", s)
		}

		// November's books: the report, the CSV and the FEC agree.
		want := caisse.Figures{Currency: "eur", Payments: len(orders), Refunds: 2000, DisputesLost: orders[4].Amount,
			PaidOut: amounts["po_nov_a"]}
		for _, ex := range orders {
			want.Gross += ex.Amount
			want.Fees += fees[ex.OrderID]
		}
		want.Net = want.Gross - want.Refunds - want.DisputesLost - want.Fees
		checkMonthBooks(t, a, "2026-11-01", "2026-11-30", want)
	})
}

// checkMonthBooks checks the books of a period: the report (API and CLI)
// says want; the sales CSV's columns (and the French variant's) add up to
// it; the FEC journal is balanced entry by entry and its accounts hold it;
// the other Stripe mode's books are empty.
func checkMonthBooks(t *testing.T, a *app, from, to string, want caisse.Figures) {
	t.Helper()
	period := "from=" + from + "&to=" + to
	a.until("every balance transaction known", func() bool {
		var r caisse.Report
		return a.admin(http.MethodGet, "/api/admin/report?"+period, nil, &r) == http.StatusOK && r.Pending == 0
	})
	var rep caisse.Report
	if s := a.admin(http.MethodGet, "/api/admin/report?"+period, nil, &rep); s != http.StatusOK {
		t.Fatalf("GET /api/admin/report: %d", s)
	}
	if len(rep.Currencies) != 1 || rep.Currencies[0] != want || rep.Livemode || rep.TimeZone != "Europe/Paris" || rep.From != from || rep.To != to {
		t.Fatalf("report of %s to %s:\n got %+v (%s, live %v)\nwant %+v", from, to, rep.Currencies, rep.TimeZone, rep.Livemode, want)
	}
	var days caisse.Figures
	for _, d := range rep.Days {
		for _, f := range d.Currencies {
			days.Gross += f.Gross
			days.Net += f.Net
		}
	}
	if days.Gross != want.Gross || days.Net != want.Net {
		t.Errorf("the days add up to gross %d, net %d", days.Gross, days.Net)
	}
	// The CLI prints the same report.
	out, err := a.cli("report", "--from", from, "--to", to, "--json")
	var cliRep caisse.Report
	if err != nil || json.Unmarshal([]byte(out), &cliRep) != nil || len(cliRep.Currencies) != 1 || cliRep.Currencies[0] != want {
		t.Errorf("caisse report --json: %v %+v\n%s", err, cliRep.Currencies, out)
	}
	if out, err := a.cli("report", "--from", from, "--to", to); err != nil || !strings.Contains(out, caisse.FormatAmount(want.Net, "eur")) ||
		!strings.Contains(out, "test mode") {
		t.Errorf("caisse report: %v\n%s", err, out)
	}
	// The other mode's books hold nothing of this one.
	var live caisse.Report
	if s := a.admin(http.MethodGet, "/api/admin/report?"+period+"&mode=live", nil, &live); s != http.StatusOK || len(live.Currencies) != 0 || !live.Livemode {
		t.Errorf("live report: %d %+v", s, live)
	}
	for _, bad := range []string{"from=" + from, "from=" + to + "&to=" + from, "from=2026-11-01&to=2026-11-31", period + "&mode=both"} {
		if s := a.admin(http.MethodGet, "/api/admin/report?"+bad, nil, nil); s != http.StatusBadRequest {
			t.Errorf("report ?%s answered %d", bad, s)
		}
	}

	// The CSV, as the API serves it and in French.
	for _, locale := range []string{"", "fr"} {
		res := a.get("/api/admin/export/sales.csv?" + period + "&locale=" + locale)
		if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/csv") ||
			!strings.Contains(res.header.Get("Content-Disposition"), "sales-"+from+"-"+to) {
			t.Fatalf("sales.csv: %d %v", res.status, res.header)
		}
		r := csv.NewReader(strings.NewReader(res.body))
		if locale == "fr" {
			r.Comma = ';'
		}
		rows, err := r.ReadAll()
		if err != nil || len(rows) < 2 {
			t.Fatalf("sales.csv (%s): %v\n%s", locale, err, res.body)
		}
		col := map[string]int{}
		for i, c := range rows[0] {
			col[c] = i
		}
		cents := func(s string) int64 {
			whole, frac, _ := strings.Cut(strings.Replace(s, ",", ".", 1), ".")
			v, err := strconv.ParseInt(whole+frac, 10, 64)
			if err != nil || len(frac) != 2 {
				t.Fatalf("sales.csv (%s): amount %q", locale, s)
			}
			return v
		}
		got := caisse.Figures{Currency: "eur"}
		for _, row := range rows[1:] {
			gross, fee, net := cents(row[col["gross"]]), cents(row[col["fee"]]), cents(row[col["net"]])
			if row[col["currency"]] != "EUR" || row[col["date"]] < from || row[col["date"]] > to {
				t.Errorf("sales.csv: %q", row)
			}
			switch row[col["type"]] {
			case "payment":
				got.Payments++
				got.Gross += gross
				if row[col["order"]] == "" || row[col["items"]] == "" || row[col["payout"]] == "" || row[col["payout_date"]] == "" {
					t.Errorf("sales.csv: a payment without its order, items or payout: %q", row)
				}
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
		if got != want {
			t.Errorf("sales.csv (%s) adds up to\n%+v, the report to\n%+v", locale, got, want)
		}
	}
	// The CLI writes the same CSV.
	res := a.get("/api/admin/export/sales.csv?" + period)
	if out, err := a.cli("export", "sales", "--from", from, "--to", to); err != nil || out != res.body {
		t.Errorf("caisse export sales: %v\n%s\nthe API's:\n%s", err, out, res.body)
	}

	// The FEC: every entry balanced; the bank holds what was paid out; the
	// fees what Stripe kept; the customers are settled.
	fec := a.get("/api/admin/export/sales.csv?" + period + "&format=fec")
	path := filepath.Join(t.TempDir(), "FEC.txt")
	if _, err := a.cli("export", "sales", "--from", from, "--to", to, "--format", "fec", "--output", path); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != fec.body {
		t.Errorf("caisse export sales --format fec --output: %v\n%s", err, b)
	}
	lines := strings.Split(strings.TrimSuffix(fec.body, "\r\n"), "\r\n")
	if strings.Count(lines[0], "\t") != 17 || !strings.HasPrefix(lines[0], "JournalCode\tJournalLib\tEcritureNum") || !strings.HasSuffix(lines[0], "Idevise") {
		t.Fatalf("FEC header %q", lines[0])
	}
	entries, accounts := map[string]int64{}, map[string]int64{}
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != 18 {
			t.Fatalf("FEC line with %d columns: %q", len(f), l)
		}
		amount := func(s string) int64 {
			v, err := strconv.ParseInt(strings.Replace(s, ",", "", 1), 10, 64)
			if err != nil || !strings.Contains(s, ",") {
				t.Fatalf("FEC amount %q", s)
			}
			return v
		}
		d, c := amount(f[11]), amount(f[12])
		entries[f[2]] += d - c
		accounts[f[4]] += d - c
	}
	for n, v := range entries {
		if v != 0 {
			t.Errorf("FEC entry %s: debits − credits = %d", n, v)
		}
	}
	if accounts["411"] != 0 || accounts["512"] != want.PaidOut || accounts["627"] != want.Fees || accounts["58"] != want.Net-want.PaidOut {
		t.Errorf("FEC accounts %v, want 512 %d, 627 %d, 58 %d", accounts, want.PaidOut, want.Fees, want.Net-want.PaidOut)
	}
	for args, want := range map[string]string{
		"report --from " + from:                                         "give the period with --from and --to",
		"report --from " + to + " --to " + from:                         "is before from",
		"report --from " + from + " --to " + to + " --mode both":        `--mode "both" is neither live nor test`,
		"export sales --from " + from + " --to " + to + " --json":       "not JSON",
		"export sales --from " + from + " --to " + to + " --format xls": `--format "xls" is neither csv nor fec`,
		"export sales --from " + from + " --to " + to + " --locale de":  `--locale "de" is neither en nor fr`,
		"export purchases --from " + from + " --to " + to:               `unknown command "purchases"`,
	} {
		if _, err := a.cli(strings.Fields(args)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("caisse %s: %v, want it refused saying %q", args, err, want)
		}
	}
	for _, bad := range []string{"format=xls&" + period, "locale=de&" + period, "from=2026-11-01"} {
		if res := a.get("/api/admin/export/sales.csv?" + bad); res.status != http.StatusBadRequest {
			t.Errorf("sales.csv ?%s answered %d", bad, res.status)
		}
	}
}

// Stripe failing the fee lookups (a 500, then a 429 with Retry-After)
// delays nothing else: events go on being processed while the lookup
// waits, and the fee fills in later.
func TestFeeLookupsFailingDelayNothing(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		f := stripemock.NewFake(t)
		a := setup(t, db, withStripe(f.URL))
		a.putPrice("print", 2500, 100)
		f.AddBalanceTransaction(stripemock.BalanceTransaction{ID: "txn_slow", Type: "charge", Amount: 2500, Fee: 63, Currency: "eur", Source: "ch_slow"})
		f.FailNext("GET", "/v1/balance_transactions/txn_slow", stripemock.Error{Status: 500, Message: "An unknown error occurred while processing your request."})
		f.FailNext("GET", "/v1/balance_transactions/txn_slow", stripemock.Error{Status: 429, Code: "rate_limit", Message: "Too many requests hit the API too quickly.", RetryAfter: 1})
		slow := stripe.Example{Type: "charge.succeeded", OrderID: "slow", Charge: "ch_slow", BalanceTransaction: "txn_slow"}
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "slow", ProductID: "print"}, slow)
		// The lookup is failing; events keep coming in and being applied.
		for i := range 20 {
			id := fmt.Sprintf("fast-%02d", i)
			f.AddBalanceTransaction(stripemock.BalanceTransaction{ID: "txn_" + id, Type: "charge", Amount: 2500, Fee: 63, Currency: "eur", Source: "ch_" + id})
			a.process(stripe.Example{Type: "checkout.session.completed", OrderID: id, ProductID: "print"})
		}
		if o := a.order("fast-19"); o.Status != caisse.StatusPaid {
			t.Fatalf("an order paid while a fee lookup failed: %s", o.Status)
		}
		a.until("the slow fee filled in", func() bool {
			o := a.order("slow")
			return o.Fee != nil && *o.Fee == 63 && o.Net != nil && *o.Net == 2437 && !o.Pending
		})
		// A refund the event does not list (as recent API versions send
		// charge.refunded) is asked of Stripe, and counts in the net.
		f.AddBalanceTransaction(stripemock.BalanceTransaction{ID: "txn_re_slow", Type: "refund", Amount: -500, Currency: "eur", Source: "re_slow", Charge: "ch_slow"})
		f.AddRefund(stripemock.Refund{ID: "re_slow", Charge: "ch_slow", Amount: 500, Currency: "eur", BalanceTransaction: "txn_re_slow"})
		refund := slow
		refund.Type, refund.Refunded = "charge.refunded", 500
		a.process(refund)
		a.until("the refund's balance transaction counted", func() bool {
			o := a.order("slow")
			return o.Fee != nil && *o.Fee == 63 && o.Net != nil && *o.Net == 1937 && len(o.BalanceTransactions) == 2
		})
		var lookups int
		for _, r := range f.Requests() {
			if r.Path == "/v1/balance_transactions/txn_slow" {
				lookups++
			}
		}
		if lookups != 3 {
			t.Errorf("txn_slow was asked %d times, want 3 (a 500, a 429, then the answer)", lookups)
		}
	})
}

// Without a secret key, the books stay empty and the order's page says
// why; a payout event is still recorded, and a failed one alerts the team.
func TestPayoutFailedAlertsWithoutKey(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		r := startReceivers(t, smtptest.Options{})
		a := setup(t, db, r.env)
		a.putPrice("print", 2500, 10)
		a.process(stripe.Example{Type: "checkout.session.completed", OrderID: "nokey", ProductID: "print"},
			stripe.Example{Type: "charge.succeeded", OrderID: "nokey"},
			stripe.Example{Type: "payout.failed", Payout: "po_failed", Amount: 9000})
		o := a.order("nokey")
		if o.Fee != nil || o.Net != nil || o.Payout != nil || !o.Pending {
			t.Fatalf("books without a key: %+v", o.Books)
		}
		rep := a.payoutReport("po_failed")
		if rep.Payout.Status != "failed" || rep.Payout.FailureCode != "account_closed" || rep.Payout.Listed {
			t.Fatalf("failed payout: %+v", rep.Payout)
		}
		a.until("the failed payout's alert", func() bool {
			for _, d := range a.deliveriesOf("channel=alert") {
				if d.Topic == caisse.TopicPayoutFailed && d.Status == caisse.DeliveryDelivered {
					return true
				}
			}
			return false
		})
		c, _ := signedInClient(t, a)
		if status, body := get(t, c, a.url+"/admin/orders/nokey"); status != http.StatusOK || !strings.Contains(body, "STRIPE_SECRET_KEY") {
			t.Errorf("the order's page (%d) does not say why its fee is empty", status)
		}
		if status, body := get(t, c, a.url+"/admin/payouts/po_failed"); status != http.StatusOK || !strings.Contains(body, "payout-failed") {
			t.Errorf("the payout's page (%d) does not say it failed", status)
		}
		if status, body := get(t, c, a.url+"/admin/payouts"); status != http.StatusOK || !strings.Contains(body, "po_failed") {
			t.Errorf("the payouts' page (%d) does not list it", status)
		}
		if status, body := get(t, c, a.url+"/admin/"); status != http.StatusOK || !strings.Contains(body, `id="money-note"`) ||
			!strings.Contains(body, "STRIPE_SECRET_KEY") {
			t.Errorf("the dashboard (%d) does not say why its money is empty", status)
		}

		// An automatic payout paid while caisse has no key, then the key
		// added: the fee and the payout's list fill in without an event.
		a.process(stripe.Example{Type: "payout.paid", Payout: "po_auto", Amount: 2400})
		// Without a key each lookup ends cancelled: none is left to run
		// once the key is there.
		lookups := []string{"fetch_balance_transaction", "list_payout_transactions", "list_charge_refunds"}
		a.until("every lookup cancelled for want of a key", func() bool {
			waiting, err := a.p.DB.CountJobs(context.Background(), lookups, rivertype.JobStateAvailable, rivertype.JobStatePending,
				rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled)
			cancelled, err2 := a.p.DB.CountJobs(context.Background(), lookups, rivertype.JobStateCancelled)
			return err == nil && err2 == nil && waiting == 0 && cancelled >= 4
		})
		f := stripemock.NewFake(t)
		created := time.Now().Add(-time.Hour).Unix()
		f.AddBalanceTransaction(stripemock.BalanceTransaction{ID: "txn_nokey", Type: "charge", Amount: 2500, Fee: 100, Currency: "eur",
			Source: "ch_nokey", Payout: "po_auto", Created: created})
		f.AddBalanceTransaction(stripemock.BalanceTransaction{ID: "txn_po_auto", Type: "payout", Amount: -2400, Currency: "eur",
			Source: "po_auto", Payout: "po_auto", Created: created})
		b := a.restart(t, withStripe(f.URL))
		b.until("the fee and the payout learnt once the key is there", func() bool {
			o := b.order("nokey")
			return o.Fee != nil && *o.Fee == 100 && o.Payout != nil && o.Payout.ID == "po_auto" && !o.Pending
		})
		b.until("the payout listed and adding up", func() bool {
			r := b.payoutReport("po_auto")
			return r.Payout.Listed && r.Difference == 0 && len(r.Orders) == 1
		})
	})
}

// answer is an HTTP answer read whole.
type answer struct {
	status int
	header http.Header
	body   string
}

// get reads an admin route whose answer is not JSON.
func (a *app) get(path string) answer {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return answer{res.StatusCode, res.Header, string(b)}
}

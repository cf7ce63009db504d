package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/poll"
	"github.com/caisse/caisse/internal/stripemock"
	"github.com/caisse/caisse/stripe"
)

// The owner opens the dashboard of a shop in Paris on 5 December 2026: the
// money of today, the last 7 and 30 days are the report's for those days,
// the chart's 90 points are the report's days (a payment older than 90
// days is on none), the page reads in French too, and the export button
// downloads the CSV of the days the form names, adding up to them.
func TestBooksInBrowser(t *testing.T) {
	fake := stripemock.NewFake(t)
	a := setup(t, sqliteDB, withStripe(fake.URL), func(env map[string]string) {
		env[testClock] = "2026-12-05T11:00:00Z"
		env["CAISSE_TIMEZONE"] = "Europe/Paris"
	})
	a.putPrice("print", 2500, 100)
	paris, _ := time.LoadLocation("Europe/Paris")
	days := []string{"2026-12-05", "2026-12-01", "2026-11-29", "2026-11-28", "2026-11-20", "2026-11-06", "2026-11-05", "2026-10-01", "2026-09-07", "2026-09-06"}
	for i, day := range days {
		d, _ := time.ParseInLocation(caisse.DateLayout, day, paris)
		id := fmt.Sprintf("dash-%02d", i)
		ex := stripe.Example{OrderID: id, ProductID: "print", Quantity: 1 + int64(i%2), Amount: int64(2500 * (1 + i%2)),
			Created: d.Add(9 * time.Hour), Fee: int64(100 + i)}
		for _, typ := range []string{"checkout.session.completed", "charge.succeeded"} {
			e := ex
			e.Type = typ
			a.process(e)
		}
		if i == 2 {
			// A refund of 10.00 on 29 November, whose figures Stripe gives.
			fake.AddBalanceTransaction(stripemock.BalanceTransaction{ID: "txn_re_" + id, Type: "refund", Amount: -1000, Currency: "eur",
				Source: "re_" + id, Charge: "ch_" + id, Created: d.Add(15 * time.Hour).Unix()})
			e := ex
			e.Type, e.Refunded, e.Refund, e.Created = "charge.refunded", 1000, "re_"+id, d.Add(15*time.Hour)
			a.process(e)
		}
	}
	report := func(from, to string) caisse.Report {
		var r caisse.Report
		if s := a.admin(http.MethodGet, "/api/admin/report?from="+from+"&to="+to, nil, &r); s != http.StatusOK {
			t.Fatalf("report: %d", s)
		}
		return r
	}
	a.until("the refund's figures known", func() bool { return report("2026-11-29", "2026-11-29").Pending == 0 })

	ctx := browser(t)
	signIn(t, ctx, a, testToken)
	if status := load(t, ctx, chromedp.Navigate(a.url+"/admin/")); status != http.StatusOK {
		t.Fatalf("the dashboard: %d", status)
	}
	figures, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]map[string]int64](`Object.fromEntries([...document.querySelectorAll("#money tr[data-currency]")].map(tr =>
		[tr.dataset.period, Object.fromEntries([...tr.querySelectorAll("td[data-figure]")].map(td => [td.dataset.figure, Number(td.dataset.amount)]))]))`))
	if err != nil {
		t.Fatal(err)
	}
	for period, from := range map[string]string{"today": "2026-12-05", "7d": "2026-11-29", "30d": "2026-11-06"} {
		r := report(from, "2026-12-05")
		want := r.Currencies[0]
		got := figures[period]
		if got["gross"] != want.Gross || got["refunds"] != want.Refunds || got["disputes_lost"] != want.DisputesLost || got["fees"] != want.Fees ||
			got["net"] != want.Net || want.Gross == 0 {
			t.Errorf("dashboard %s: %v, the report from %s: %+v", period, got, from, want)
		}
	}
	// What the days hold: today one payment, the week three and a refund,
	// the month six (5 November is the 31st day back).
	if g := figures["today"]["gross"]; g != 2500 {
		t.Errorf("today's gross: %d", g)
	}
	if r := figures["7d"]["refunds"]; r != 1000 {
		t.Errorf("the week's refunds: %d", r)
	}
	if g := figures["30d"]["gross"]; g != 2500+5000+2500+5000+2500+5000 {
		t.Errorf("the month's gross: %d", g)
	}
	browse(t, ctx, chromedp.ScrollIntoView(chromedp.CSS("#money-title")))
	screenshot(t, ctx, "books.png")

	// The chart: a point a day for 90 days, each the report's.
	type point struct {
		Date       string
		Gross, Net int64
	}
	points, err := chromedp.Run(ctx, chromedp.Evaluate[[]point](`[...document.querySelectorAll("svg.money-chart[data-currency=eur] circle.point")].map(c =>
		({Date: c.dataset.date, Gross: Number(c.dataset.gross), Net: Number(c.dataset.net)}))`))
	if err != nil {
		t.Fatal(err)
	}
	r90 := report("2026-09-07", "2026-12-05")
	if len(points) != 90 || points[0].Date != "2026-09-07" || points[89].Date != "2026-12-05" || len(r90.Days) != 90 {
		t.Fatalf("the chart has %d points (%v … %v)", len(points), points[0], points[len(points)-1])
	}
	var seeded int
	for i, p := range points {
		var want point
		want.Date = r90.Days[i].Date
		for _, f := range r90.Days[i].Currencies {
			want.Gross, want.Net = f.Gross, f.Net
		}
		if p != want {
			t.Errorf("chart point %d: %+v, the report's day: %+v", i, p, want)
		}
		if p.Gross != 0 {
			seeded++
		}
	}
	if seeded != 9 {
		t.Errorf("%d days of the chart have sales, want 9 (6 September is older than 90 days)", seeded)
	}

	// In French.
	if status := load(t, ctx, chromedp.Click(chromedp.CSS("#lang-fr"))); status != http.StatusOK {
		t.Fatalf("switching to French: %d", status)
	}
	label, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("svg.money-chart").getAttribute("aria-label")`))
	if err != nil {
		t.Fatal(err)
	}
	if title := text(t, ctx, "#money-title"); !strings.HasPrefix(title, "Argent") || label != "Brut et net par jour, EUR" ||
		!strings.Contains(text(t, ctx, "#money"), "Ventes brutes") || !strings.Contains(text(t, ctx, "#money"), "25,00") {
		t.Errorf("the dashboard in French: %q, chart %q, table %q", title, label, text(t, ctx, "#money"))
	}

	// The export button downloads the CSV of the form's days.
	dir := t.TempDir()
	browse(t, ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
		return err
	}))
	browse(t, ctx,
		chromedp.SetValue(chromedp.CSS(`#export input[name="from"]`), "2026-11-01"),
		chromedp.SetValue(chromedp.CSS(`#export input[name="to"]`), "2026-11-30"),
		chromedp.SetValue(chromedp.CSS(`#export select[name="locale"]`), "fr"),
		chromedp.Click(chromedp.CSS(`#export button[type="submit"]`)))
	// Test-mode money (the key is a test key) says so in its name.
	file := filepath.Join(dir, "sales-2026-11-01-2026-11-30-test.csv")
	poll.Until(t, time.Minute, func() error {
		if _, err := os.Stat(file); err != nil {
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			return fmt.Errorf("%w (the folder holds %v)", err, names)
		}
		return nil
	})
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rd := csv.NewReader(strings.NewReader(string(b)))
	rd.Comma = ';'
	rows, err := rd.ReadAll()
	if err != nil {
		t.Fatalf("the downloaded CSV: %v\n%s", err, b)
	}
	want := report("2026-11-01", "2026-11-30").Currencies[0]
	var gross, net int64
	var payments int
	for _, row := range rows[1:] {
		g, _ := strconv.ParseInt(strings.Replace(row[5], ",", "", 1), 10, 64)
		n, _ := strconv.ParseInt(strings.Replace(row[10], ",", "", 1), 10, 64)
		if row[0] == "payment" {
			payments++
			gross += g
		}
		net += n
	}
	if rows[0][0] != "type" || payments != want.Payments || gross != want.Gross || net != want.Net || payments != 5 {
		t.Errorf("the downloaded CSV: %d payments, gross %d, net %d; the report: %+v\n%s", payments, gross, net, want, b)
	}
}

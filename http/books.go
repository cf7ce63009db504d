package http

import (
	"fmt"
	"html"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/caisse/caisse"
)

// The books: the payouts of the shop's Stripe balance, each with the money
// it carried.

// booksNote says why an order's fee and net are empty, in the page's
// language, or "" when they are not.
func (s *Server) booksNote(lang string, o *caisse.Order) string {
	switch {
	case !s.StripeKey && o.Fee == nil:
		return tr(lang, "Stripe's fee and the net are unknown: caisse learns them through Stripe's API, which needs STRIPE_SECRET_KEY.")
	case o.Pending:
		return tr(lang, "caisse is asking Stripe for the fee of a payment of this order.")
	case o.Fee == nil && len(o.BalanceTransactions) == 0:
		return tr(lang, "Stripe's fee is not known yet: it comes with the payment's settlement.")
	}
	return ""
}

func (s *Server) handlePayouts(w http.ResponseWriter, r *http.Request) {
	p, err := page(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	payouts, more, err := s.Books.FindPayouts(r.Context(), caisse.PayoutFilter{Page: p})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(payouts, more))
}

func (s *Server) handlePayout(w http.ResponseWriter, r *http.Request) {
	rep, err := s.Books.FindPayout(r.Context(), r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) pagePayouts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := caisse.PayoutFilter{Page: caisse.Page{Limit: pageSize, StartingAfter: q.Get("starting_after")}}
	payouts, more, err := s.Books.FindPayouts(r.Context(), f)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	data := map[string]any{"Payouts": payouts, "NoKey": !s.StripeKey}
	if more {
		data["Next"] = queryString("starting_after", payouts[len(payouts)-1].ID)
	}
	s.render(w, r, http.StatusOK, "payouts", data, "Payouts")
}

func (s *Server) pagePayout(w http.ResponseWriter, r *http.Request) {
	rep, err := s.Books.FindPayout(r.Context(), r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "payout", map[string]any{"R": rep, "NoKey": !s.StripeKey}, "Payout %s", rep.Payout.ID)
}

// The books by period: the report (GET /api/admin/report), the sales
// export (GET /api/admin/export/sales.csv, and the dashboard's button) and
// the dashboard's money figures and chart. All three read the same
// movements and add them up the same way (caisse.Figures).

// timeZone is the shop's zone (UTC when unset).
func (s *Server) timeZone() *time.Location {
	if s.TimeZone == nil {
		return time.UTC
	}
	return s.TimeZone
}

// report adds up the books of the period the request names.
func (s *Server) report(r *http.Request) (*caisse.Report, error) {
	q := r.URL.Query()
	p, err := caisse.ParsePeriod(q.Get("from"), q.Get("to"), s.timeZone())
	if err != nil {
		return nil, err
	}
	live, err := caisse.ParseMode(q.Get("mode"), s.BooksLive)
	if err != nil {
		return nil, err
	}
	return caisse.NewReport(r.Context(), s.Books, p, s.timeZone(), live, s.StripeKey)
}

// moneyNote says on the dashboard why its money may be missing, or "":
// caisse.BooksNote's sentences, written out so the catalogue of French
// sentences finds them.
func (s *Server) moneyNote(lang string, pending int) string {
	switch format, _ := caisse.BooksNote(s.StripeKey, pending); format {
	case caisse.NoteNoKey:
		return tr(lang, "caisse learns Stripe's figures (amounts, fees, net, payouts) through Stripe's API, which needs STRIPE_SECRET_KEY: without it the books stay empty.")
	case caisse.NotePending:
		return tr(lang, "caisse is asking Stripe for the figures of %d payments, refunds or disputes: they count once known.", pending)
	}
	return ""
}

func (s *Server) handleReport(w http.ResponseWriter, r *http.Request) {
	rep, err := s.report(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// exportSales streams the sales CSV (or, with format=fec, the FEC journal)
// of the period the request names, row by row as the database reads them.
// An error before anything is sent answers as an error; once the file has
// begun it can only be cut short: it is logged, and the file ends with a
// line saying so.
func (s *Server) exportSales(w http.ResponseWriter, r *http.Request, fail func(http.ResponseWriter, *http.Request, error)) {
	q := r.URL.Query()
	x := caisse.Export{Loc: s.timeZone(), Format: q.Get("format"), Locale: q.Get("locale"), Accounts: s.Accounts}
	var err error
	if x.Period, err = caisse.ParsePeriod(q.Get("from"), q.Get("to"), x.Loc); err != nil {
		fail(w, r, err)
		return
	}
	if x.Livemode, err = caisse.ParseMode(q.Get("mode"), s.BooksLive); err != nil {
		fail(w, r, err)
		return
	}
	if err := x.Check(); err != nil {
		fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	if x.Format == "fec" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	h.Set("Content-Disposition", `attachment; filename="`+x.FileName()+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	sent, err := caisse.ExportSales(r.Context(), s.Books, w, x)
	if err == nil {
		return
	}
	s.Logger.Error("the sales export failed", "bytes_sent", sent, "error", err.Error())
	if sent == 0 {
		h.Del("Content-Disposition")
		fail(w, r, err)
		return
	}
	fmt.Fprintf(w, "\r\nthe export stopped short: %s\r\n", caisse.ErrorMessage(err))
}

func (s *Server) handleExportSales(w http.ResponseWriter, r *http.Request) {
	s.exportSales(w, r, s.Error)
}

func (s *Server) pageExportSales(w http.ResponseWriter, r *http.Request) {
	s.exportSales(w, r, s.pageError)
}

// moneyPeriod is a row group of the dashboard's money table.
type moneyPeriod struct {
	Key, Label string
	From, To   string
	Figures    []caisse.Figures
}

// chartDays is how many days the dashboard's chart draws.
const chartDays = 90

// dashboardMoney adds the money figures to the dashboard's data: today,
// the last 7 and 30 days per currency, the 90-day chart, the export form's
// defaults (the last whole month).
func (s *Server) dashboardMoney(r *http.Request, now time.Time, lang string, data map[string]any) error {
	loc := s.timeZone()
	b, pending, err := caisse.BuildReport(r.Context(), s.Books, caisse.LastDays(now, chartDays, loc), loc, s.BooksLive)
	if err != nil {
		return err
	}
	var periods []moneyPeriod
	for _, p := range []struct {
		key, label string
		days       int
	}{{"today", tr(lang, "Today"), 1}, {"7d", tr(lang, "Last 7 days"), 7}, {"30d", tr(lang, "Last 30 days"), 30}} {
		rep := b.Report(caisse.LastDays(now, p.days, loc))
		periods = append(periods, moneyPeriod{Key: p.key, Label: p.label, From: rep.From, To: rep.To, Figures: rep.Currencies})
	}
	all := b.Report(caisse.Period{})
	var charts []template.HTML
	for _, f := range all.Currencies {
		charts = append(charts, moneyChart(all.Days, f.Currency, lang))
	}
	today := now.In(loc)
	firstOfMonth := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, loc)
	data["Money"] = map[string]any{
		"Periods": periods, "Charts": charts, "Live": s.BooksLive, "Note": s.moneyNote(lang, pending),
		"TimeZone": loc.String(),
		"From":     firstOfMonth.AddDate(0, -1, 0).Format(caisse.DateLayout),
		"To":       firstOfMonth.AddDate(0, 0, -1).Format(caisse.DateLayout),
	}
	return nil
}

// moneyChart draws the daily gross and net of one currency as an SVG, on
// the server, so it reads without JavaScript: two lines, a point per day
// (its figures in a tooltip and in data- attributes), the scale's ends and
// zero labelled, the first and last days written under it.
func moneyChart(days []caisse.Day, currency, lang string) template.HTML {
	const width, height, left, right, top, bottom = 760.0, 220.0, 90.0, 10.0, 10.0, 30.0
	gross := make([]int64, len(days))
	net := make([]int64, len(days))
	var hi, lo int64
	for i, d := range days {
		for _, f := range d.Currencies {
			if f.Currency == currency {
				gross[i], net[i] = f.Gross, f.Net
			}
		}
		hi, lo = max(hi, gross[i], net[i]), min(lo, gross[i], net[i])
	}
	if hi == lo {
		hi = lo + 1
	}
	n := max(len(days)-1, 1)
	x := func(i int) float64 { return left + float64(i)*(width-left-right)/float64(n) }
	y := func(v int64) float64 { return top + float64(hi-v)*(height-top-bottom)/float64(hi-lo) }
	var sb strings.Builder
	title := tr(lang, "Gross and net per day, %s", strings.ToUpper(currency))
	fmt.Fprintf(&sb, `<figure class="chart"><svg xmlns="http://www.w3.org/2000/svg" class="money-chart" data-currency="%s" viewBox="0 0 %g %g" role="img" aria-label="%s">`,
		html.EscapeString(currency), width, height, html.EscapeString(title))
	fmt.Fprintf(&sb, `<title>%s</title>`, html.EscapeString(title))
	// The scale: its top, zero and (when below zero) its bottom.
	for _, v := range slices.Compact([]int64{hi, 0, lo}) {
		fmt.Fprintf(&sb, `<line class="grid" x1="%g" x2="%g" y1="%.1f" y2="%.1f"/><text class="scale" x="%g" y="%.1f" text-anchor="end">%s</text>`,
			left, width-right, y(v), y(v), left-4, y(v)+4, html.EscapeString(caisse.FormatMoney(v, currency, lang)))
	}
	for _, series := range []struct {
		class  string
		values []int64
	}{{"gross", gross}, {"net", net}} {
		fmt.Fprintf(&sb, `<polyline class="%s" fill="none" points="`, series.class)
		for i, v := range series.values {
			fmt.Fprintf(&sb, "%.1f,%.1f ", x(i), y(v))
		}
		sb.WriteString(`"/>`)
	}
	for i, d := range days {
		tip := tr(lang, "%s: gross %s, net %s", d.Date, caisse.FormatMoney(gross[i], currency, lang), caisse.FormatMoney(net[i], currency, lang))
		fmt.Fprintf(&sb, `<circle class="point" r="2.5" cx="%.1f" cy="%.1f" data-date="%s" data-gross="%d" data-net="%d"><title>%s</title></circle>`,
			x(i), y(gross[i]), d.Date, gross[i], net[i], html.EscapeString(tip))
	}
	if len(days) > 0 {
		fmt.Fprintf(&sb, `<text class="scale" x="%g" y="%g">%s</text><text class="scale" x="%g" y="%g" text-anchor="end">%s</text>`,
			left, height-8, days[0].Date, width-right, height-8, days[len(days)-1].Date)
	}
	sb.WriteString(`</svg><figcaption><span class="key gross">` + html.EscapeString(tr(lang, "gross sales")) +
		`</span> <span class="key net">` + html.EscapeString(tr(lang, "net, after refunds, disputes and Stripe's fees")) +
		`</span></figcaption></figure>`)
	return template.HTML(sb.String())
}

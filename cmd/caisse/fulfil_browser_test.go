package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/internal/stripemock"
)

// The owner, in a real browser, ships an order from its page and opens its
// packing slip, then refunds two of its three units with restock from the
// same page: Stripe receives one refund of their price, and once Stripe's
// event confirms it the order is partly refunded, the two units are back in
// stock and the buyer gets one email about the refund.
func TestShipAndRefundInBrowser(t *testing.T) {
	r := startReceivers(t, smtptest.Options{})
	fake := stripemock.NewFake(t)
	a := setup(t, sqliteDB, r.env, withStripe(fake.URL), func(env map[string]string) { env[testClock] = "" })
	ctx := browser(t)
	ex := paidOrder(t, a, fake, "o_browser", "print", 3, 3)
	if p := a.product("print"); p.Stock != 0 {
		t.Fatalf("sold: %+v", p)
	}
	signIn(t, ctx, a, testToken)

	if status := load(t, ctx, chromedp.Navigate(a.url+"/admin/orders/o_browser")); status != http.StatusOK {
		t.Fatalf("the order's page: %d", status)
	}
	browse(t, ctx,
		chromedp.SendKeys(chromedp.CSS(`#ship input[name="carrier"]`), "Colissimo"),
		chromedp.SendKeys(chromedp.CSS(`#ship input[name="tracking_number"]`), "6A12345678901"),
		chromedp.SendKeys(chromedp.CSS(`#ship input[name="tracking_url"]`), "https://www.laposte.fr/outils/suivre-vos-envois?code=6A12345678901"))
	if status := load(t, ctx, chromedp.Click(chromedp.CSS(`#ship button[type="submit"]`))); status != http.StatusOK {
		t.Fatalf("shipping from the page: %d", status)
	}
	carrier, flash := text(t, ctx, "#carrier"), text(t, ctx, "#flash")
	if carrier != "Colissimo" || !strings.Contains(flash, "Shipment recorded") {
		t.Fatalf("after shipping: carrier %q, flash %q", carrier, flash)
	}
	if o := a.order("o_browser"); o.Shipment == nil || o.Shipment.TrackingNumber != "6A12345678901" {
		t.Fatalf("the order's shipment: %+v", o.Shipment)
	}

	if status := load(t, ctx, chromedp.Click(chromedp.CSS("#slip-link"))); status != http.StatusOK {
		t.Fatalf("the packing slip: %d", status)
	}
	slip := text(t, ctx, "#slip")
	navs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("nav").length`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(slip, "o_browser") || !strings.Contains(slip, "Colissimo") || !strings.Contains(slip, "3") || navs != 0 {
		t.Fatalf("the packing slip shows %q with %d navigation bars", slip, navs)
	}

	if status := load(t, ctx, chromedp.Navigate(a.url+"/admin/orders/o_browser")); status != http.StatusOK {
		t.Fatalf("the order's page: %d", status)
	}
	browse(t, ctx,
		chromedp.SendKeys(chromedp.CSS(`#refund-lines tr[data-product="print"] input[name="quantity"]`), "2"),
		chromedp.Click(chromedp.CSS(`#refund input[name="restock"]`)))
	if status := load(t, ctx, chromedp.Click(chromedp.CSS(`#refund button[type="submit"]`))); status != http.StatusOK {
		t.Fatalf("refunding from the page: %d", status)
	}
	a.until("Stripe asked for the refund", func() bool { return len(ownerRefunds(fake)) == 1 })
	if got := ownerRefunds(fake)[0].Form; got.Get("amount") != "5000" || got.Get("payment_intent") != "pi_o_browser" {
		t.Fatalf("Stripe received the refund %v, want 5000 of pi_o_browser", got)
	}

	// Stripe's event confirms it.
	refunded := ex
	refunded.Type, refunded.Refunded, refunded.Amount = "charge.refunded", 5000, 7500
	a.process(refunded)
	if o := a.order("o_browser"); o.Status != caisse.StatusPartiallyRefunded || o.AmountRefunded != 5000 {
		t.Fatalf("after Stripe's event: %s, %d refunded", o.Status, o.AmountRefunded)
	}
	if p := a.product("print"); p.Stock != 2 {
		t.Fatalf("the stock after the refund: %d, want the two units back", p.Stock)
	}
	a.clock.advance(time.Minute)
	a.until("the buyer told of the refund", func() bool { return a.drained() && len(refundEmails(t, r, "o_browser")) >= 1 })
	if got := refundEmails(t, r, "o_browser"); len(got) != 1 || !strings.Contains(got[0].Text, caisse.FormatMoney(5000, "eur", caisse.LangEnglish)) {
		t.Fatalf("%d refund emails, want one saying %s: %+v", len(got), caisse.FormatMoney(5000, "eur", caisse.LangEnglish), got)
	}
}

// refundEmails are the emails about an order's refund the mail server
// received.
func refundEmails(t *testing.T, r *receivers, order string) []smtptest.Email {
	t.Helper()
	var out []smtptest.Email
	for _, m := range r.mail.Messages() {
		e := smtptest.ParseEmail(t, m.Data)
		if strings.Contains(e.Subject, order) && strings.Contains(e.Subject, "refunded") {
			out = append(out, e)
		}
	}
	return out
}

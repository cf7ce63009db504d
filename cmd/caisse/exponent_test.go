package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caisse/caisse/stripe"
)

// Amounts are shown with their currency's real exponent everywhere: 5,000
// JPY is "¥5,000" (never 50.00), 1.234 KWD is "KWD 1.234".
func TestAmountsShownInTheCurrencysUnits(t *testing.T) {
	a := setup(t, sqliteDB)
	for _, p := range []struct {
		id, currency string
		price        int64
	}{{"tote", "jpy", 5000}, {"dates", "kwd", 1234}} {
		name, stock := p.id, int64(3)
		if status := a.admin(http.MethodPut, "/api/admin/products/"+p.id, map[string]any{"name": name, "price": p.price,
			"currency": p.currency, "stock": stock}, nil); status != http.StatusOK {
			t.Fatalf("PUT %s: %d", p.id, status)
		}
	}
	id := a.send(stripe.Example{Type: "checkout.session.completed", OrderID: "j1", ProductID: "tote", Amount: 5000, Currency: "jpy"})
	a.wait(id)

	out, err := a.cli("products", "list")
	if err != nil || !strings.Contains(out, "¥5,000") || !strings.Contains(out, "KWD\u00a01.234") {
		t.Fatalf("products list: %v\n%s", err, out)
	}
	out, err = a.cli("orders", "show", "j1")
	if err != nil || !strings.Contains(out, "¥5,000") || strings.Contains(out, "50.00") {
		t.Fatalf("orders show: %v\n%s", err, out)
	}
	c, _ := signedInClient(t, a)
	for path, want := range map[string]string{"/admin/orders/j1": "¥5,000", "/admin/products": "KWD\u00a01.234", "/admin/orders": "¥5,000"} {
		if status, body := get(t, c, a.url+path); status != http.StatusOK || !strings.Contains(body, want) || strings.Contains(body, "¥50.00") {
			t.Errorf("%s (%d) does not show %s", path, status, want)
		}
	}
}

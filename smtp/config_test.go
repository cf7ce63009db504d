package smtp

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
)

func TestParseServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want server
	}{
		{"smtp://user:pass@mail.example.com:587", server{host: "mail.example.com", port: 587, security: startTLS, user: "user", password: "pass"}},
		{"smtp://user:pass@mail.example.com", server{host: "mail.example.com", port: 587, security: startTLS, user: "user", password: "pass"}},
		{"smtp://user:pass@mail.example.com:25", server{host: "mail.example.com", port: 25, security: startTLS, user: "user", password: "pass"}},
		{"smtps://user:pass@mail.example.com:465", server{host: "mail.example.com", port: 465, security: implicitTLS, user: "user", password: "pass"}},
		{"smtps://user:pass@mail.example.com", server{host: "mail.example.com", port: 465, security: implicitTLS, user: "user", password: "pass"}},
		{"smtps://mail.example.com", server{host: "mail.example.com", port: 465, security: implicitTLS}},
		{"smtp://127.0.0.1:1025", server{host: "127.0.0.1", port: 1025, security: plainText}},
		{"smtp://relay.internal", server{host: "relay.internal", port: 25, security: plainText}},
		{"smtp://[::1]:1025/", server{host: "::1", port: 1025, security: plainText}},
		{" smtp://shop%40example.com:p%40ss%3Aw%2Ford@mail.example.com:587 ", server{host: "mail.example.com", port: 587, security: startTLS, user: "shop@example.com", password: "p@ss:w/ord"}},
	}
	for _, tt := range tests {
		got, err := parseServer(tt.url)
		if err != nil {
			t.Errorf("parseServer(%q): %v", tt.url, err)
			continue
		}
		if got != tt.want {
			t.Errorf("parseServer(%q) = %+v, want %+v", tt.url, got, tt.want)
		}
	}
}

func TestServerString(t *testing.T) {
	t.Parallel()
	s, err := parseServer("smtps://shop:s3cr3t@mail.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "smtps://shop@mail.example.com:465" {
		t.Errorf("String() = %q", got)
	}
}

func TestLanguage(t *testing.T) {
	t.Parallel()
	for locale, want := range map[string]string{
		"fr": "fr", "fr-FR": "fr", "fr_CA": "fr", "FR": "fr", "en": "en", "en-GB": "en", " en-US ": "en",
		"": "", "auto": "", "de": "", "es-419": "", "french": "",
	} {
		if got := language(locale); got != want {
			t.Errorf("language(%q) = %q, want %q", locale, got, want)
		}
	}
}

func TestParseMessageIDHost(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"":                     "",
		"pay.example.com":      "pay.example.com",
		" Pay.Example.COM ":    "pay.example.com",
		"pay.example.com:8443": "pay.example.com",
		"127.0.0.1:8080":       "127.0.0.1",
		"localhost":            "localhost",
	} {
		got, err := parseMessageIDHost(raw)
		if err != nil || got != want {
			t.Errorf("parseMessageIDHost(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{"[::1]:8080", "pay example.com", "pay.example.com>", "a@b", ".example.com", "pay..example.com", "pay_shop.example.com"} {
		if got, err := parseMessageIDHost(raw); err == nil || !strings.Contains(err.Error(), "CAISSE_PUBLIC_URL") {
			t.Errorf("parseMessageIDHost(%q) = %q, %v; want an error naming CAISSE_PUBLIC_URL", raw, got, err)
		}
	}
}

func TestParseShopURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"":                                 "",
		"https://shop.example.com":         "https://shop.example.com",
		" https://shop.example.com/fr/ ":   "https://shop.example.com/fr/",
		"http://localhost:3000/boutique":   "http://localhost:3000/boutique",
		"https://shop.example.com/?ref=em": "https://shop.example.com/?ref=em",
	} {
		got, err := parseShopURL(raw)
		if err != nil || got != want {
			t.Errorf("parseShopURL(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{"shop.example.com", "javascript:alert(1)", "ftp://shop.example.com", "https://", "https://user:s3cr3t@shop.example.com"} {
		got, err := parseShopURL(raw)
		if err == nil || !strings.Contains(err.Error(), "CAISSE_SHOP_URL") {
			t.Errorf("parseShopURL(%q) = %q, %v; want an error naming CAISSE_SHOP_URL", raw, got, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error %q shows the password", err)
		}
	}
}

func TestFormatDate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		t    time.Time
		lang string
		want string
	}{
		{time.Date(2026, 12, 5, 14, 30, 0, 0, time.UTC), "fr", "5 décembre 2026"},
		{time.Date(2026, 12, 5, 14, 30, 0, 0, time.UTC), "en", "December 5, 2026"},
		{time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC), "fr", "1er août 2026"},
		{time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC), "en", "August 1, 2026"},
		{time.Date(2027, 2, 28, 23, 59, 0, 0, time.UTC), "fr", "28 février 2027"},
		{time.Time{}, "fr", ""},
	}
	for _, tt := range tests {
		if got := formatDate(tt.t, tt.lang); got != tt.want {
			t.Errorf("formatDate(%v, %q) = %q, want %q", tt.t, tt.lang, got, tt.want)
		}
	}
}

func TestFormatPercent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    caisse.Percent
		lang string
		want string
	}{
		{6000, "fr", "60\u202f%"},
		{6000, "en", "60%"},
		{6250, "fr", "62,5\u202f%"},
		{6250, "en", "62.5%"},
		{5, "en", "0.05%"},
	}
	for _, tt := range tests {
		if got := formatPercent(tt.p, tt.lang); got != tt.want {
			t.Errorf("formatPercent(%d, %q) = %q, want %q", tt.p, tt.lang, got, tt.want)
		}
	}
}

// declineCodes are the decline and error codes the payment_failed email
// must explain in the customer's words: the commonest of Stripe's.
var declineCodes = []string{
	"insufficient_funds", "card_declined", "generic_decline", "do_not_honor", "expired_card",
	"incorrect_cvc", "invalid_cvc", "incorrect_number", "invalid_number", "invalid_expiry_month", "invalid_expiry_year",
	"incorrect_zip", "lost_card", "stolen_card", "pickup_card", "fraudulent", "card_velocity_exceeded",
	"withdrawal_count_limit_exceeded", "processing_error", "authentication_required", "try_again_later",
	"currency_not_supported", "card_not_supported", "transaction_not_allowed", "call_issuer",
	"issuer_not_available", "restricted_card", "security_violation", "duplicate_transaction",
	"payment_intent_authentication_failure", "card_decline_rate_limit_exceeded", "pin_try_exceeded",
}

func TestDeclineWords(t *testing.T) {
	t.Parallel()
	for _, code := range declineCodes {
		en, fr := declineWords(code, "en"), declineWords(code, "fr")
		if en == "" || fr == "" || en == fr {
			t.Errorf("%s: English %q, French %q; want both, and different", code, en, fr)
		}
	}
	for code, w := range declines {
		for i, s := range w {
			if strings.TrimSpace(s) == "" || !strings.HasSuffix(s, ".") {
				t.Errorf("%s: explanation %d is %q, want a sentence", code, i, s)
			}
		}
	}
	// Never an accusation: the customer hears only that the bank declined.
	for _, code := range []string{"lost_card", "stolen_card", "fraudulent", "pickup_card", "merchant_blacklist", "security_violation"} {
		for _, lang := range languages {
			got := strings.ToLower(declineWords(code, lang))
			for _, word := range []string{"lost", "stolen", "fraud", "perdu", "vol", "suspect"} {
				if strings.Contains(got, word) {
					t.Errorf("%s in %s says %q: %q", code, lang, word, got)
				}
			}
			if !strings.Contains(got, "card") && !strings.Contains(got, "carte") {
				t.Errorf("%s in %s does not suggest another card: %q", code, lang, got)
			}
		}
	}
	if got := declineWords("INSUFFICIENT_FUNDS ", "fr"); got != declines["insufficient_funds"][1] {
		t.Errorf("a code in capitals is not recognised: %q", got)
	}
	for _, code := range []string{"", "not_a_code", "card_error"} {
		if got := declineWords(code, "en"); got != "" {
			t.Errorf("declineWords(%q) = %q, want none (Stripe's message is shown)", code, got)
		}
	}
}

// TestArtistDataHasNoBuyer: what an artist's templates are given has no
// place for who bought the work, so no template, embedded or overridden,
// can show it.
func TestArtistDataHasNoBuyer(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeOf(ArtistData{})
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := strings.ToLower(f.Name)
		for _, word := range []string{"customer", "buyer", "email", "phone", "address", "client"} {
			if strings.Contains(name, word) {
				t.Errorf("ArtistData.%s looks like the buyer's details", f.Name)
			}
		}
		if f.Type.Kind() != reflect.String && f.Type.Kind() != reflect.Int64 {
			t.Errorf("ArtistData.%s is a %s: an artist's email is given words and numbers only, never a record that may hold the buyer", f.Name, f.Type)
		}
	}
}

func TestPayloadAmount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		v    any
		want int64
		ok   bool
	}{
		{int64(2500), 2500, true},
		{2500, 2500, true},
		{float64(2500), 2500, true},
		{json.Number("2500"), 2500, true},
		{"2500", 2500, true},
		{2500.5, 0, false},
		{float64(1e300), 0, false},
		{nil, 0, false},
		{true, 0, false},
	}
	for _, tt := range tests {
		got, ok := payloadAmount(tt.v)
		if got != tt.want || ok != tt.ok {
			t.Errorf("payloadAmount(%#v) = %d, %v; want %d, %v", tt.v, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	s := &Sender{server: server{user: "shop", password: "hunter2-long"}}
	said := "535 bad credentials hunter2-long AHNob3AAaHVudGVyMi1sb25n aHVudGVyMi1sb25n"
	got := s.redact(said)
	if strings.Contains(got, "hunter2") || strings.Contains(got, "aHVudGVyMi1sb25n") || strings.Contains(got, "AHNob3AAaHVudGVyMi1sb25n") {
		t.Errorf("redact left the password in %q", got)
	}
	if !strings.HasPrefix(got, "535 bad credentials ") {
		t.Errorf("redact changed the rest: %q", got)
	}
}

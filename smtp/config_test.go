package smtp

import (
	"encoding/json"
	"strings"
	"testing"
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

func TestFormatAmount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		amount         int64
		currency, lang string
		want           string
	}{
		{90000, "eur", "fr", "900,00 EUR"},
		{90000, "eur", "en", "900.00 EUR"},
		{5000, "jpy", "fr", "5000 JPY"},
		{5000, "jpy", "en", "5000 JPY"},
		{1234, "kwd", "fr", "1,234 KWD"},
		{5, "usd", "en", "0.05 USD"},
	}
	for _, tt := range tests {
		if got := formatAmount(tt.amount, tt.currency, tt.lang); got != tt.want {
			t.Errorf("formatAmount(%d, %q, %q) = %q, want %q", tt.amount, tt.currency, tt.lang, got, tt.want)
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

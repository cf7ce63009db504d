package caisse

import (
	"encoding/json"
	"testing"
)

// Money is written as its reader writes it, by CLDR's rules for the
// language and currency: the symbol's place, the separators (French groups
// thousands with a narrow no-break space and puts a no-break space before
// the symbol), and the currency's digits (JPY has none: 1250 is ¥1,250,
// never 12.50).
func TestFormatMoney(t *testing.T) {
	t.Parallel()
	const nb, nnb = "\u00a0", "\u202f" // no-break space, narrow no-break space
	for _, c := range []struct {
		amount         int64
		currency, lang string
		want           string
	}{
		{125000, "eur", "fr", "1" + nnb + "250,00" + nb + "€"},
		{125000, "eur", "en", "€1,250.00"},
		{125000, "EUR", "fr-FR", "1" + nnb + "250,00" + nb + "€"},
		{900000, "eur", "fr", "9" + nnb + "000,00" + nb + "€"},
		{540000, "eur", "fr", "5" + nnb + "400,00" + nb + "€"},
		{5, "eur", "fr", "0,05" + nb + "€"},
		{125000, "usd", "fr", "1" + nnb + "250,00" + nb + "$US"},
		{125000, "usd", "en", "$1,250.00"},
		{1250, "jpy", "fr", "1" + nnb + "250" + nb + "¥"},
		{1250, "jpy", "en", "¥1,250"},
		{5000, "jpy", "en", "¥5,000"},
		{125000, "chf", "fr", "1" + nnb + "250,00" + nb + "CHF"},
		{125000, "chf", "en", "CHF" + nb + "1,250.00"},
		{1234, "kwd", "en", "KWD" + nb + "1.234"},
		// ISK has two decimals in Stripe's API and none in CLDR: 10000 is 100 krónur.
		{10000, "isk", "en", "ISK" + nb + "100"},
		{-500, "eur", "en", "-€5.00"},
		{125000, "eur", "de", "€1,250.00"}, // a language caisse has no words for reads English
		{1500, "", "fr", "1500"},
		{1500, "xyz", "en", "15.00 XYZ"}, // a currency CLDR does not know
		{MaxAmount, "eur", "en", "€9,999,999,999.99"},
	} {
		if got := FormatMoney(c.amount, c.currency, c.lang); got != c.want {
			t.Errorf("FormatMoney(%d, %q, %q) = %q, want %q", c.amount, c.currency, c.lang, got, c.want)
		}
	}
}

func TestLanguage(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"fr": "fr", "fr-FR": "fr", "FR_ca": "fr", "en": "en", "en-GB": "en", " en ": "en", "de": "", "": "", "auto": ""} {
		if got := Language(in); got != want {
			t.Errorf("Language(%q) = %q, want %q", in, got, want)
		}
	}
}

// Statuses read as words, in both languages, for every status there is;
// JSON keeps the codes.
func TestStatusWords(t *testing.T) {
	t.Parallel()
	for _, lang := range []string{"en", "fr"} {
		for _, s := range append(append([]OrderStatus{}, OrderStatuses...), OrderFlags...) {
			if w := s.Words(lang); w == "" || w == string(s) && len(s) > 4 && lang == "fr" {
				t.Errorf("order status %s in %s reads %q", s, lang, w)
			}
		}
		for _, s := range DeliveryStatuses {
			if w := s.Words(lang); w == "" || (lang == "fr" && w == string(s)) {
				t.Errorf("delivery status %s in %s reads %q", s, lang, w)
			}
		}
		for _, s := range EventStatuses {
			if w := s.Words(lang); w == "" || (lang == "fr" && w == string(s)) {
				t.Errorf("event status %s in %s reads %q", s, lang, w)
			}
		}
	}
	if got := DisputeWords("needs_response", "en"); got != "awaiting your evidence" {
		t.Errorf("needs_response reads %q", got)
	}
	if got := DisputeWords("needs_response", "fr"); got != "en attente de vos preuves" {
		t.Errorf("needs_response reads %q in French", got)
	}
	if got := DisputeWords("some_new_status", "en"); got != "some new status" {
		t.Errorf("an unknown status reads %q", got)
	}
	if got := StatusAwaitingPayment.Words("fr-FR"); got != "en attente de paiement" {
		t.Errorf("awaiting_payment in French reads %q", got)
	}
	b, _ := json.Marshal(Order{Status: StatusAwaitingPayment})
	if !json.Valid(b) || !contains(string(b), `"status":"awaiting_payment"`) {
		t.Errorf("JSON keeps the code: %s", b)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestPercent(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Percent{"60": 6000, "60 %": 6000, "60%": 6000, "62,5": 6250, "62.5": 6250, "0": 0, "100": 10000, "33.33": 3333} {
		got, err := ParsePercent(in)
		if err != nil || got != want {
			t.Errorf("ParsePercent(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abc", "-5", "60.123", "1e3", "1000"} {
		if _, err := ParsePercent(in); err == nil {
			t.Errorf("ParsePercent(%q) takes it", in)
		}
	}
	if s := Percent(6250).String(); s != "62.5" {
		t.Errorf("62.5 %% reads %q", s)
	}
	if s := Percent(6000).String(); s != "60" {
		t.Errorf("60 %% reads %q", s)
	}
	if got := Percent(6000).Of(900000); got != 540000 {
		t.Errorf("60 %% of 9000.00 is %d", got)
	}
	if got := Percent(3333).Of(100); got != 33 {
		t.Errorf("33.33 %% of 1.00 is %d", got)
	}
	if got := Percent(5000).Of(1); got != 1 {
		t.Errorf("half of a cent rounds to %d, want 1 (half away from zero)", got)
	}
	if got := Percent(10000).Of(MaxAmount); got != MaxAmount {
		t.Errorf("100 %% of the largest amount is %d", got)
	}
	var p struct {
		Share Percent `json:"share"`
	}
	for in, want := range map[string]Percent{`{"share":60}`: 6000, `{"share":62.5}`: 6250, `{"share":"60 %"}`: 6000} {
		if err := json.Unmarshal([]byte(in), &p); err != nil || p.Share != want {
			t.Errorf("%s reads %d, %v", in, p.Share, err)
		}
	}
	p.Share = 6000
	if b, _ := json.Marshal(p); string(b) != `{"share":60}` {
		t.Errorf("a share is written %s", b)
	}
}

func TestAddresses(t *testing.T) {
	t.Parallel()
	var a struct {
		To Addresses `json:"to"`
	}
	for in, want := range map[string]string{
		`{"to":"a@x.fr, b@y.fr"}`:            "a@x.fr, b@y.fr",
		`{"to":"a@x.fr;b@y.fr a@x.fr"}`:      "a@x.fr, b@y.fr",
		`{"to":["a@x.fr","b@y.fr"]}`:         "a@x.fr, b@y.fr",
		`{"to":[]}`:                          "",
		`{"to":""}`:                          "",
		`{"to":["a@x.fr, c@z.fr","b@y.fr"]}`: "a@x.fr, c@z.fr, b@y.fr",
	} {
		a.To = nil
		if err := json.Unmarshal([]byte(in), &a); err != nil || a.To.String() != want {
			t.Errorf("%s reads %q, %v; want %q", in, a.To, err, want)
		}
	}
	if b, _ := json.Marshal(struct {
		To Addresses `json:"to"`
	}{}); string(b) != `{"to":[]}` {
		t.Errorf("no addresses are written %s", b)
	}
	for _, bad := range []string{"nope", "Claude <c@x.fr>", "c@", "@x.fr", "c@x", "c@@x.fr"} {
		if err := (Addresses{bad}).Validate(); err == nil {
			t.Errorf("%q passes as an address", bad)
		}
	}
	many := Addresses{}
	for i := range MaxArtistEmails + 1 {
		many = append(many, string(rune('a'+i))+"@x.fr")
	}
	if err := many.Validate(); err == nil {
		t.Errorf("%d addresses pass", len(many))
	}
}

func TestProductUpdateArtistFields(t *testing.T) {
	t.Parallel()
	share, over := Percent(6000), Percent(10001)
	name, bad, fr, de := "Claude Monet", "Claude\x00", "fr-FR", "de"
	emails, badEmails := Addresses{"claude@example.com"}, Addresses{"claude"}
	for _, c := range []struct {
		u  ProductUpdate
		ok bool
	}{
		{ProductUpdate{ArtistName: &name, ArtistEmail: &emails, ArtistShare: &share, ArtistLocale: &fr}, true},
		{ProductUpdate{ArtistName: &bad}, false},
		{ProductUpdate{ArtistShare: &over}, false},
		{ProductUpdate{ArtistLocale: &de}, false},
		{ProductUpdate{ArtistEmail: &badEmails}, false},
	} {
		err := c.u.Validate("print-1")
		if (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.u, err)
		}
		if c.ok && *c.u.ArtistLocale != "fr" {
			t.Errorf("the artist's locale is kept as %q, want fr", *c.u.ArtistLocale)
		}
	}
}

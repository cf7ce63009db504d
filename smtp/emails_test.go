package smtp_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/smtp"
)

// update rewrites the golden emails: go test ./smtp -run Golden -update.
var update = flag.Bool("update", false, "rewrite the golden emails under testdata/golden with what the tests send")

// The gallery the emails below are about.
var (
	// soldAt is when the deliveries were written: the day of the sale.
	soldAt = time.Date(2026, 12, 5, 14, 32, 7, 0, time.UTC)
	// buyer is who bought: never named to an artist.
	buyer = caisse.Customer{Name: "Camille Durand", Email: "camille.durand@example.fr", Phone: "+33 6 12 34 56 78"}
)

const (
	galleryShop = "Galerie Lune"
	artistEmail = "claire.moreau@atelier.example"
	workID      = "prod_nympheas_bleus"
	checkoutURL = "https://checkout.stripe.com/c/pay/cs_live_a1B2c3D4e5F6"
	shopURL     = "https://galerie-lune.example/boutique"
)

// gallerySetup starts a mail server and the gallery's Sender to it.
func gallerySetup(t *testing.T, edit func(*smtp.Config)) bundle {
	t.Helper()
	return setup(t, smtptest.Options{}, func(c *smtp.Config) {
		c.From = "Boutique Lune <shop@lune.example>"
		c.ShopName = galleryShop
		if edit != nil {
			edit(c)
		}
	})
}

// galleryOrder is the sale of one artwork, 9 000,00 €, to buyer.
func galleryOrder(locale string) *caisse.Order {
	return &caisse.Order{
		ID: "ord_2026_0412", Status: caisse.StatusPaid, Currency: "eur", Locale: locale,
		Items:       []caisse.Line{{ProductID: workID, Name: "Les Nymphéas bleus", Quantity: 1, UnitAmount: 900000}},
		AmountTotal: 900000, AmountPaid: 900000, AmountDue: 900000,
		CustomerEmail: buyer.Email, Customer: buyer,
		CheckoutSession: "cs_live_a1B2c3D4e5F6", PaymentIntent: "pi_3QxYz0A1b2C3d4E5",
		CreatedAt: soldAt.Add(-10 * time.Minute), UpdatedAt: soldAt,
	}
}

// galleryWork is the artwork as the catalogue has it now; its artist
// reads their emails in lang.
func galleryWork(lang string) *caisse.Product {
	return &caisse.Product{
		ID: workID, Name: "Les Nymphéas bleus", Price: 900000, Currency: "eur",
		ArtistName: "Claire Moreau", ArtistEmail: caisse.Addresses{artistEmail}, ArtistShare: 60 * caisse.PercentUnit,
		ArtistLocale: lang,
	}
}

// shopOrder is an order of two lines from the gallery's shop: 82,50 €.
func shopOrder(locale string) *caisse.Order {
	return &caisse.Order{
		ID: "ord_2026_0415", Status: caisse.StatusPaid, Currency: "eur", Locale: locale,
		Items: []caisse.Line{
			{ProductID: "prod_affiche_nympheas", Name: "Affiche Les Nymphéas bleus, 50 × 70 cm", Quantity: 2, UnitAmount: 3500},
			{ProductID: "prod_carnet", Name: "Carnet de croquis A5", Quantity: 1, UnitAmount: 1250},
		},
		AmountTotal: 8250, AmountPaid: 8250, AmountDue: 8250,
		CustomerEmail: buyer.Email, Customer: buyer,
		CreatedAt: soldAt.Add(-10 * time.Minute), UpdatedAt: soldAt,
	}
}

// customerEmail is a customer email about o.
func customerEmail(id, topic string, o *caisse.Order, payload map[string]any) caisse.Notice {
	return caisse.Notice{
		Delivery: caisse.Delivery{ID: id, Channel: caisse.ChannelEmail, Topic: topic, Recipient: o.CustomerEmail,
			OrderID: o.ID, CreatedAt: soldAt, Payload: payload},
		Order: o, ShopName: galleryShop,
	}
}

// artistEmail is an email to the work's artist, whose language is lang,
// about its sale on an order of the buyer, whose language is the other
// one. share is as the payload holds it (an int64 when written, a float64
// once read back from JSON).
func artistNotice(id, topic, lang string, share any) caisse.Notice {
	buyerLocale := "en-GB"
	if lang == "en" {
		buyerLocale = "fr-FR"
	}
	o := galleryOrder(buyerLocale)
	if topic == caisse.TopicArtistSaleCancelled {
		o.Status, o.AmountRefunded = caisse.StatusRefunded, 900000
	}
	return caisse.Notice{
		Delivery: caisse.Delivery{ID: id, Channel: caisse.ChannelEmail, Topic: topic, Recipient: artistEmail,
			OrderID: o.ID, ProductID: workID, CreatedAt: soldAt,
			Payload: map[string]any{"share": share, "artist_name": "Claire Moreau"}},
		Order: o, Product: galleryWork(lang), ShopName: galleryShop,
	}
}

// send sends n and returns the email as the mail client reads it.
func send(t *testing.T, b bundle, n caisse.Notice) smtptest.Email {
	t.Helper()
	if err := b.sender.Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := b.server.Messages()
	if len(msgs) == 0 {
		t.Fatal("the server received nothing")
	}
	return smtptest.ParseEmail(t, msgs[len(msgs)-1].Data)
}

// TestGoldenEmails: each email, in each language, is what the files under
// testdata/golden say, as a mail client reads it (subject, text part, HTML
// part). Run go test ./smtp -run Golden -update to rewrite them after a
// change to the templates, and read the diff.
func TestGoldenEmails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		notice func(lang string) caisse.Notice
		// want is in the text part, html in the HTML part as a reader sees
		// it, by language: what the email must say whatever the golden
		// file holds.
		want, html map[string][]string
	}{
		{
			name: "order_confirmation",
			notice: func(lang string) caisse.Notice {
				return customerEmail("dlv_confirm_"+lang, caisse.TopicOrderConfirmation, shopOrder(lang), nil)
			},
			want: map[string][]string{
				"fr": {"82,50" + nbsp + "€", "2 × Affiche Les Nymphéas bleus, 50 × 70 cm (35,00" + nbsp + "€ l'unité) : 70,00" + nbsp + "€", "1 × Carnet de croquis A5 : 12,50" + nbsp + "€"},
				"en": {"€82.50", "2 × Affiche Les Nymphéas bleus, 50 × 70 cm (€35.00 each): €70.00", "1 × Carnet de croquis A5: €12.50"},
			},
			html: map[string][]string{
				"fr": {"82,50" + nbsp + "€", "2 × Affiche Les Nymphéas bleus, 50 × 70 cm 35,00" + nbsp + "€ l’unité 70,00" + nbsp + "€", "1 × Carnet de croquis A5 12,50" + nbsp + "€"},
				"en": {"€82.50", "2 × Affiche Les Nymphéas bleus, 50 × 70 cm €35.00 each €70.00", "1 × Carnet de croquis A5 €12.50"},
			},
		},
		{
			name: "payment_failed_insufficient_funds",
			notice: func(lang string) caisse.Notice {
				o := shopOrder(lang)
				o.Status, o.AmountPaid, o.PaymentError, o.FailedAttempts = caisse.StatusPending, 0, "Your card has insufficient funds.", 1
				n := customerEmail("dlv_declined_"+lang, caisse.TopicPaymentFailed, o,
					map[string]any{"error": "Your card has insufficient funds.", "code": "insufficient_funds", "payment_intent": "pi_3QxYz0A1b2C3d4E5"})
				n.CheckoutURL = checkoutURL
				return n
			},
			want: map[string][]string{
				"fr": {"Les fonds disponibles sur votre carte ne suffisent pas", "Réessayer : " + checkoutURL},
				"en": {"Your card does not have enough funds", "Try again: " + checkoutURL},
			},
			html: map[string][]string{
				"fr": {"Les fonds disponibles sur votre carte ne suffisent pas", "Réessayer"},
				"en": {"Your card does not have enough funds", "Try again"},
			},
		},
		{
			name: "payment_failed_unknown_code",
			notice: func(lang string) caisse.Notice {
				o := shopOrder(lang)
				o.Status, o.AmountPaid, o.FailedAttempts = caisse.StatusPending, 0, 1
				return customerEmail("dlv_declined2_"+lang, caisse.TopicPaymentFailed, o,
					map[string]any{"error": "Your card does not support this type of purchase (code 57).", "code": "issuer_code_57", "payment_intent": "pi_3QxYz0A1b2C3d4E5"})
			},
			want: map[string][]string{
				"fr": {"Réponse de la banque : Your card does not support this type of purchase (code 57).", "revenez sur la page de paiement"},
				"en": {"The bank's answer: Your card does not support this type of purchase (code 57).", "go back to the payment page"},
			},
			html: map[string][]string{
				"fr": {"Réponse de la banque : Your card does not support this type of purchase (code 57).", "revenez sur la page de paiement"},
				"en": {"The bank’s answer: Your card does not support this type of purchase (code 57).", "go back to the payment page"},
			},
		},
		{
			name: "order_refunded",
			notice: func(lang string) caisse.Notice {
				o := shopOrder(lang)
				o.Status, o.AmountRefunded = caisse.StatusRefunded, 8250
				return customerEmail("dlv_refunded_"+lang, caisse.TopicOrderRefunded, o, map[string]any{"event_id": "evt_1QxYz0"})
			},
			want: map[string][]string{
				"fr": {"82,50" + nbsp + "€ sur les 82,50" + nbsp + "€ payés", "1 × Carnet de croquis A5 : 12,50" + nbsp + "€"},
				"en": {"€82.50 of the €82.50 you paid", "1 × Carnet de croquis A5: €12.50"},
			},
			html: map[string][]string{
				"fr": {"82,50" + nbsp + "€ sur les 82,50" + nbsp + "€ payés", "1 × Carnet de croquis A5 12,50" + nbsp + "€"},
				"en": {"€82.50 of the €82.50 you paid", "1 × Carnet de croquis A5 €12.50"},
			},
		},
		{
			name: "artist_sale",
			notice: func(lang string) caisse.Notice {
				return artistNotice("dlv_artist_"+lang, caisse.TopicArtistSale, lang, int64(6000))
			},
			want: map[string][]string{
				"fr": {"Bonjour Claire Moreau,", "Les Nymphéas bleus", "Prix de vente : 9" + nnbsp + "000,00" + nbsp + "€",
					"Votre part, 60" + nnbsp + "% : 5" + nnbsp + "400,00" + nbsp + "€", "5 décembre 2026", "ord_2026_0412", galleryShop},
				"en": {"Hello Claire Moreau,", "Les Nymphéas bleus", "Sold for: €9,000.00", "Your share, 60%: €5,400.00",
					"December 5, 2026", "ord_2026_0412", galleryShop},
			},
			html: map[string][]string{
				"fr": {"Bonjour Claire Moreau,", "Prix de vente 9" + nnbsp + "000,00" + nbsp + "€", "Votre part, 60" + nnbsp + "% 5" + nnbsp + "400,00" + nbsp + "€",
					"5 décembre 2026", "ord_2026_0412", galleryShop},
				"en": {"Hello Claire Moreau,", "Sold for €9,000.00", "Your share, 60% €5,400.00", "December 5, 2026", "ord_2026_0412", galleryShop},
			},
		},
		{
			name: "artist_sale_cancelled",
			notice: func(lang string) caisse.Notice {
				// As the dispatcher reads the payload back from JSON.
				return artistNotice("dlv_artist_undone_"+lang, caisse.TopicArtistSaleCancelled, lang, float64(6000))
			},
			want: map[string][]string{
				"fr": {"La vente de votre œuvre «" + nbsp + "Les Nymphéas bleus" + nbsp + "» sur la commande ord_2026_0412", "Aucune part ne vous est due",
					"9" + nnbsp + "000,00" + nbsp + "€", "5" + nnbsp + "400,00" + nbsp + "€"},
				"en": {"The sale of your work “Les Nymphéas bleus” on order ord_2026_0412", "No share is due to you",
					"€9,000.00", "€5,400.00"},
			},
			html: map[string][]string{
				"fr": {"La vente de votre œuvre Les Nymphéas bleus sur la commande ord_2026_0412", "Aucune part ne vous est due",
					"9" + nnbsp + "000,00" + nbsp + "€", "5" + nnbsp + "400,00" + nbsp + "€"},
				"en": {"The sale of your work Les Nymphéas bleus on order ord_2026_0412", "No share is due to you", "€9,000.00", "€5,400.00"},
			},
		},
	}
	for _, tt := range tests {
		for _, lang := range []string{"fr", "en"} {
			t.Run(tt.name+"."+lang, func(t *testing.T) {
				t.Parallel()
				b := gallerySetup(t, nil)
				n := tt.notice(lang)
				e := send(t, b, n)
				if got := e.Header.Get("Content-Language"); got != lang {
					t.Errorf("Content-Language is %q, want %q", got, lang)
				}
				if got, want := e.Header.Get("Message-ID"), "<"+n.Delivery.ID+"@lune.example>"; got != want {
					t.Errorf("Message-ID is %q, want %q", got, want)
				}
				for _, s := range tt.want[lang] {
					if !strings.Contains(e.Text, s) {
						t.Errorf("text part lacks %q:\n%s", s, e.Text)
					}
				}
				html := visible(e.HTML)
				for _, s := range tt.html[lang] {
					if !strings.Contains(html, s) {
						t.Errorf("HTML part lacks %q:\n%s", s, html)
					}
				}
				base := tt.name + "." + lang
				golden(t, base+".subject.txt", e.Subject+"\n")
				golden(t, base+".text.txt", e.Text)
				golden(t, base+".html", e.HTML)
			})
		}
	}
}

// golden compares got with the golden file name, or writes it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("error reading the golden email: %v (go test ./smtp -run Golden -update writes it)", err)
	}
	if string(want) != got {
		t.Errorf("%s is not what the mail client received (if the change is meant, go test ./smtp -run Golden -update):\n%s", path, firstDiff(string(want), got))
	}
}

// firstDiff shows the first line where want and got differ.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want %q\n  got  %q", i+1, wl, gl)
		}
	}
	return "(the same lines)"
}

// TestArtistEmailsNameNoBuyer: an artist learns what sold and their share,
// never who bought it: not the buyer's name, address or phone, in any
// part of the email, its headers included.
func TestArtistEmailsNameNoBuyer(t *testing.T) {
	t.Parallel()
	for _, topic := range []string{caisse.TopicArtistSale, caisse.TopicArtistSaleCancelled} {
		for _, lang := range []string{"fr", "en"} {
			t.Run(topic+"."+lang, func(t *testing.T) {
				t.Parallel()
				b := gallerySetup(t, nil)
				n := artistNotice("dlv_privacy", topic, lang, int64(6000))
				// Everything the rows may carry of the buyer is there.
				n.ItemNames = map[string]string{workID: "Les Nymphéas bleus"}
				e := send(t, b, n)
				got := b.server.Only(t)
				if len(got.To) != 1 || got.To[0] != artistEmail {
					t.Errorf("envelope to %q, want the artist %s", got.To, artistEmail)
				}
				var headers strings.Builder
				for k, vs := range e.Header {
					fmt.Fprintf(&headers, "%s: %s\n", k, strings.Join(vs, ", "))
				}
				for _, secret := range []string{buyer.Name, buyer.Email, buyer.Phone, "Camille", "Durand", "camille", "12 34 56 78"} {
					for part, s := range map[string]string{"subject": e.Subject, "text": e.Text, "HTML": e.HTML, "headers": headers.String()} {
						if strings.Contains(s, secret) {
							t.Errorf("the artist's %s names the buyer (%q):\n%s", part, secret, s)
						}
					}
				}
			})
		}
	}
}

// TestArtistEmailFallbacks: an artist's email with what the rows may lack:
// a line without a name or a price (the catalogue's are used), no share set,
// no artist name, no artist locale (the shop's), several units.
func TestArtistEmailFallbacks(t *testing.T) {
	t.Parallel()
	b := gallerySetup(t, func(c *smtp.Config) { c.Locale = "fr" })
	n := artistNotice("dlv_fallback", caisse.TopicArtistSale, "", int64(0))
	n.Order.Items = []caisse.Line{
		{ProductID: "prod_other", Name: "Autre œuvre", Quantity: 1, UnitAmount: 100},
		{ProductID: workID, Quantity: 3},
	}
	n.Product.Name, n.Product.Price = "Nymphéas (tirage)", 12000
	n.Delivery.Payload = map[string]any{"share": 0, "artist_name": ""}
	e := send(t, b, n)
	if got := e.Header.Get("Content-Language"); got != "fr" {
		t.Errorf("Content-Language is %q, want the shop's fr", got)
	}
	for _, s := range []string{"Bonjour,", "Nymphéas (tirage)", "Quantité : 3 (120,00" + nbsp + "€ l'unité)", "Prix de vente : 360,00" + nbsp + "€"} {
		if !strings.Contains(e.Text, s) {
			t.Errorf("text part lacks %q:\n%s", s, e.Text)
		}
	}
	for _, s := range []string{"Votre part", "Autre œuvre"} {
		if strings.Contains(e.Text, s) || strings.Contains(e.HTML, s) {
			t.Errorf("the email says %q:\n%s", s, e.Text)
		}
	}

	// A share of a work whose price is unknown is said as a percentage.
	n = artistNotice("dlv_fallback2", caisse.TopicArtistSale, "en", 6250)
	n.Order.Items[0].UnitAmount, n.Product.Price = 0, 0
	if e := send(t, b, n); !strings.Contains(e.Text, "Your share, 62.5% of the price") || strings.Contains(e.Text, "Sold for") {
		t.Errorf("text part should give the share as a percentage only:\n%s", e.Text)
	}
}

// TestMoneyInEmails: amounts as the emails show them, after CLDR, for
// each language.
func TestMoneyInEmails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		currency, lang string
		unit, total    string // of 2 × 62 500 in the currency's smallest unit
	}{
		{"eur", "fr", "625,00" + nbsp + "€", "1" + nnbsp + "250,00" + nbsp + "€"},
		{"eur", "en", "€625.00", "€1,250.00"},
		{"usd", "fr", "625,00" + nbsp + "$US", "1" + nnbsp + "250,00" + nbsp + "$US"},
		{"usd", "en", "$625.00", "$1,250.00"},
		{"jpy", "fr", "62" + nnbsp + "500" + nbsp + "¥", "125" + nnbsp + "000" + nbsp + "¥"},
		{"jpy", "en", "¥62,500", "¥125,000"},
		{"chf", "fr", "625,00" + nbsp + "CHF", "1" + nnbsp + "250,00" + nbsp + "CHF"},
		{"chf", "en", "CHF" + nbsp + "625.00", "CHF" + nbsp + "1,250.00"},
	}
	for _, tt := range tests {
		t.Run(tt.currency+"."+tt.lang, func(t *testing.T) {
			t.Parallel()
			b := gallerySetup(t, nil)
			o := &caisse.Order{ID: "ord_money", Currency: tt.currency, Locale: tt.lang, CustomerEmail: "customer@example.com",
				Items:      []caisse.Line{{ProductID: "prod_print", Name: "Tirage", Quantity: 2, UnitAmount: 62500}},
				AmountPaid: 125000}
			e := send(t, b, customerEmail("dlv_money", caisse.TopicOrderConfirmation, o, nil))
			line := "2 × Tirage (" + tt.unit + " each): " + tt.total
			paid := "payment of " + tt.total
			if tt.lang == "fr" {
				line = "2 × Tirage (" + tt.unit + " l'unité) : " + tt.total
				paid = "paiement de " + tt.total
			}
			for _, s := range []string{line, paid} {
				if !strings.Contains(e.Text, s) {
					t.Errorf("text part lacks %q:\n%s", s, e.Text)
				}
			}
			html := visible(e.HTML)
			for _, s := range []string{tt.unit, tt.total, paid} {
				if !strings.Contains(html, s) {
					t.Errorf("HTML part lacks %q:\n%s", s, html)
				}
			}
		})
	}
}

// TestUnknownProductShowsItsID: a line whose product is not in the
// catalogue is shown by its id, without remark.
func TestUnknownProductShowsItsID(t *testing.T) {
	t.Parallel()
	b := gallerySetup(t, nil)
	o := shopOrder("en")
	o.Items = append(o.Items, caisse.Line{ProductID: "print-9", Quantity: 1})
	o.UnknownProducts = []string{"print-9"}
	n := customerEmail("dlv_unknown", caisse.TopicOrderConfirmation, o, nil)
	n.ItemNames = map[string]string{"print-9": "Old print"}
	e := send(t, b, n)
	if !strings.Contains(e.Text, "  - 1 × print-9\n") || !strings.Contains(visible(e.HTML), "1 × print-9") {
		t.Errorf("the unknown product is not shown by its id:\n%s", e.Text)
	}
	for _, s := range []string{"Old print", "catalogue"} {
		if strings.Contains(e.Text, s) || strings.Contains(e.HTML, s) {
			t.Errorf("the email says %q:\n%s", s, e.Text)
		}
	}
}

// TestMessageID: the Message-ID names the delivery and where it comes from,
// and is the same on every send of one delivery.
func TestMessageID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		host       string // Config.MessageIDHost
		databaseID string // SetDatabaseID, when not ""
		want       string
	}{
		{"neither", "", "", "<dlv_mid@lune.example>"},
		{"public host", "pay.example.com", "", "<dlv_mid@pay.example.com>"},
		{"public host with a port", "Pay.Example.com:8443", "", "<dlv_mid@pay.example.com>"},
		{"public host and the database", "pay.example.com", "7kq2xz4m", "<dlv_mid.7kq2xz4m@pay.example.com>"},
		{"database", "", "7kq2xz4m", "<dlv_mid.7kq2xz4m@lune.example>"},
		{"database id cleaned", "", "7kq2 xz4m.\r\n", "<dlv_mid.7kq2xz4m@lune.example>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := gallerySetup(t, func(c *smtp.Config) { c.MessageIDHost = tt.host })
			if tt.databaseID != "" {
				b.sender.SetDatabaseID(tt.databaseID)
			}
			n := customerEmail("dlv_mid", caisse.TopicOrderConfirmation, shopOrder("fr"), nil)
			first, again := send(t, b, n), send(t, b, n)
			if got := first.Header.Get("Message-ID"); got != tt.want {
				t.Errorf("Message-ID is %q, want %q", got, tt.want)
			}
			if a, b := first.Header.Get("Message-ID"), again.Header.Get("Message-ID"); a != b {
				t.Errorf("a second send of the delivery has Message-ID %q, the first %q", b, a)
			}
		})
	}

	// Two databases sending one delivery id through one domain.
	one, other := gallerySetup(t, nil), gallerySetup(t, nil)
	one.sender.SetDatabaseID("db1")
	other.sender.SetDatabaseID("db2")
	n := customerEmail("dlv_same", caisse.TopicOrderConfirmation, shopOrder("fr"), nil)
	if a, b := send(t, one, n).Header.Get("Message-ID"), send(t, other, n).Header.Get("Message-ID"); a == b {
		t.Errorf("two databases wrote the same Message-ID %q", a)
	}
}

func TestMessageIDHostErrors(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"[::1]:8080", "pay example.com", "pay.example.com>"} {
		_, err := smtp.New(smtp.Config{URL: "smtp://127.0.0.1:1025", From: "shop@lune.example", MessageIDHost: host})
		if err == nil || !strings.Contains(err.Error(), "CAISSE_PUBLIC_URL") {
			t.Errorf("MessageIDHost %q: New returned %v, want an error naming CAISSE_PUBLIC_URL", host, err)
		}
	}
	_, err := smtp.New(smtp.Config{URL: "smtp://127.0.0.1:1025", From: "shop@lune.example", ShopURL: "galerie-lune.example"})
	if err == nil || !strings.Contains(err.Error(), "CAISSE_SHOP_URL") {
		t.Errorf("New returned %v, want an error naming CAISSE_SHOP_URL", err)
	}
}

// TestPaymentFailed: a declined payment is explained in the customer's
// words when Stripe says why in a code caisse knows, else in Stripe's; and
// the email leads back to the payment, else to the shop.
func TestPaymentFailed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		lang     string
		payload  map[string]any
		orderErr string // Order.PaymentError
		checkout string // Notice.CheckoutURL
		shop     string // Config.ShopURL
		want     []string
		wantNot  []string
		link     string // the Try again link, "" for none
	}{
		{name: "known code in French", lang: "fr",
			payload:  map[string]any{"error": "Your card has expired.", "code": "expired_card"},
			checkout: checkoutURL, shop: shopURL,
			want:    []string{"Votre carte est expirée. Payez avec une autre carte.", "Réessayer"},
			wantNot: []string{"Your card has expired.", "Réponse de la banque"}, link: checkoutURL},
		{name: "known code in English", lang: "en",
			payload: map[string]any{"error": "Your card was declined.", "code": "stolen_card"},
			want:    []string{"Your bank declined the payment. Please pay with another card, or contact your bank"},
			wantNot: []string{"stolen", "Your card was declined."}},
		{name: "unknown code", lang: "en",
			payload: map[string]any{"error": "Your card was declined for making repeated attempts too frequently.", "code": "some_new_code"},
			shop:    shopURL,
			want:    []string{"answer: Your card was declined for making repeated attempts too frequently."}, link: shopURL},
		{name: "no code, the order's error", lang: "fr",
			payload:  map[string]any{},
			orderErr: "Your card was declined.",
			want:     []string{"Réponse de la banque : Your card was declined."}},
		{name: "nothing said", lang: "en", payload: nil,
			want:    []string{"did not go through.", "go back to the payment page"},
			wantNot: []string{"The bank's answer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := gallerySetup(t, func(c *smtp.Config) { c.ShopURL = tt.shop })
			o := shopOrder(tt.lang)
			o.Status, o.AmountPaid, o.PaymentError = caisse.StatusPending, 0, tt.orderErr
			n := customerEmail("dlv_failed", caisse.TopicPaymentFailed, o, tt.payload)
			n.CheckoutURL = tt.checkout
			e := send(t, b, n)
			html := visible(e.HTML)
			for _, s := range tt.want {
				if !strings.Contains(e.Text, s) || !strings.Contains(html, s) {
					t.Errorf("text or HTML lacks %q:\n%s\n%s", s, e.Text, html)
				}
			}
			for _, s := range tt.wantNot {
				if strings.Contains(e.Text, s) || strings.Contains(html, s) {
					t.Errorf("text or HTML says %q:\n%s\n%s", s, e.Text, html)
				}
			}
			label := map[string]string{"en": "Try again", "fr": "Réessayer"}[tt.lang]
			if tt.link == "" {
				if strings.Contains(e.HTML, "href=") || strings.Contains(e.Text, label+":") || strings.Contains(e.Text, label+" :") {
					t.Errorf("the email has a link to try again, with neither a checkout page nor CAISSE_SHOP_URL:\n%s\n%s", e.Text, e.HTML)
				}
				return
			}
			if !strings.Contains(e.HTML, `href="`+tt.link+`"`) || !strings.Contains(html, label) {
				t.Errorf("the HTML part lacks the %s link to %s:\n%s", label, tt.link, e.HTML)
			}
			if !strings.Contains(e.Text, tt.link) {
				t.Errorf("the text part lacks %s:\n%s", tt.link, e.Text)
			}
		})
	}
}

// TestArtistTemplateOverride: an artist's templates can be replaced like
// the others.
func TestArtistTemplateOverride(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	override := `{{define "subject"}}Vendu : {{.Work}}{{end}}{{.Work}}, {{.Price}}, votre part {{.SharePercent}} : {{.Share}} ({{.Date}}, {{.OrderID}}, {{.ProductID}}, {{.Quantity}}, {{.UnitPrice}}, {{.ArtistName}}, {{.Shop}})`
	if err := os.WriteFile(filepath.Join(dir, "artist_sale.fr.txt"), []byte(override), 0o600); err != nil {
		t.Fatal(err)
	}
	b := gallerySetup(t, func(c *smtp.Config) { c.Templates = dir })
	e := send(t, b, artistNotice("dlv_artist_override", caisse.TopicArtistSale, "fr", int64(6000)))
	if e.Subject != "Vendu : Les Nymphéas bleus" {
		t.Errorf("subject is %q, want the override's", e.Subject)
	}
	want := "Les Nymphéas bleus, 9" + nnbsp + "000,00" + nbsp + "€, votre part 60" + nnbsp + "% : 5" + nnbsp + "400,00" + nbsp + "€ (5 décembre 2026, ord_2026_0412, " +
		workID + ", 1, 9" + nnbsp + "000,00" + nbsp + "€, Claire Moreau, Galerie Lune)"
	if strings.TrimSpace(e.Text) != want {
		t.Errorf("text part is %q, want %q", e.Text, want)
	}
}

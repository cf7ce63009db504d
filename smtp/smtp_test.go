package smtp_test

import (
	"context"
	"html"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/smtp"
)

// The spaces CLDR writes money with in French: between thousands, and
// before the currency's symbol.
const (
	nnbsp = "\u202f" // narrow no-break space
	nbsp  = "\u00a0" // no-break space
)

// tag matches an HTML tag.
var tag = regexp.MustCompile(`<[^>]*>`)

// visible is the text a reader sees in an HTML part, as smtptest.Visible
// has it, but keeping the no-break spaces money is written with.
func visible(h string) string {
	h = html.UnescapeString(tag.ReplaceAllString(h, " "))
	return strings.Join(strings.FieldsFunc(h, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }), " ")
}

// sentAt is the time the tests' emails say they were written.
var sentAt = time.Date(2025, 3, 14, 15, 9, 26, 0, time.FixedZone("CET", 3600))

// bundle is what a test works with: a mail server and a sender to it.
type bundle struct {
	server *smtptest.Server
	sender *smtp.Sender
}

// setup starts a mail server and a Sender to it, in plain text unless the
// options or cfg say otherwise. edit may change the configuration.
func setup(t *testing.T, opts smtptest.Options, edit func(*smtp.Config)) bundle {
	t.Helper()
	ms := smtptest.Start(t, opts)
	cfg := smtp.Config{
		URL:       ms.URL("smtp", "", ""),
		From:      "Boutique Lune <shop@lune.example>",
		ShopName:  "Lune",
		Locale:    "en",
		TLSConfig: smtptest.ClientTLSConfig(),
		Timeout:   time.Minute,
		Now:       func() time.Time { return sentAt },
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := smtp.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return bundle{server: ms, sender: s}
}

// customerNotice is a customer email about order ord_1.
func customerNotice(id, topic string, o caisse.Order, payload map[string]any) caisse.Notice {
	o.ID = "ord_1"
	o.CustomerEmail = "customer@example.com"
	o.Items = []caisse.Line{{ProductID: "prod_tote", Quantity: 2}, {ProductID: "prod_mug", Quantity: 1}}
	return caisse.Notice{
		Delivery: caisse.Delivery{
			ID: id, Channel: caisse.ChannelEmail, Topic: topic,
			Recipient: "customer@example.com", OrderID: "ord_1", Payload: payload,
		},
		Order:     &o,
		ItemNames: map[string]string{"prod_tote": "Tote bag"},
		ShopName:  "Lune",
	}
}

func TestCustomerEmails(t *testing.T) {
	t.Parallel()
	eur := func(locale string, paid, refunded int64) caisse.Order {
		return caisse.Order{Locale: locale, Currency: "eur", AmountPaid: paid, AmountRefunded: refunded}
	}
	jpy := func(locale string, paid, refunded int64) caisse.Order {
		return caisse.Order{Locale: locale, Currency: "jpy", AmountPaid: paid, AmountRefunded: refunded}
	}
	tests := []struct {
		name    string
		topic   string
		order   caisse.Order
		payload map[string]any
		locale  string // Config.Locale; "" is en
		lang    string
		subject []string
		// want is in both the text and the HTML part.
		want []string
	}{
		{
			name: "confirmation en", topic: caisse.TopicOrderConfirmation, order: eur("en-GB", 1500, 0), lang: "en",
			subject: []string{"Lune", "ord_1", "confirmed"},
			want:    []string{"€15.00", "2 × Tote bag", "1 × prod_mug", "ord_1", "Lune"},
		},
		{
			name: "confirmation fr JPY", topic: caisse.TopicOrderConfirmation, order: jpy("fr", 5000, 0), lang: "fr",
			subject: []string{"Lune", "ord_1", "confirmée"},
			want:    []string{"5" + nnbsp + "000" + nbsp + "¥", "2 × Tote bag", "1 × prod_mug", "Merci pour votre commande"},
		},
		{
			name: "confirmation fr EUR", topic: caisse.TopicOrderConfirmation, order: eur("fr-FR", 90000, 0), lang: "fr",
			subject: []string{"confirmée"},
			want:    []string{"900,00" + nbsp + "€"},
		},
		{
			name: "payment failed en", topic: caisse.TopicPaymentFailed, order: eur("en", 0, 0), lang: "en",
			payload: map[string]any{"error": "Your card's security code is incorrect."},
			subject: []string{"did not go through", "ord_1"},
			want:    []string{"Your card's security code is incorrect.", "try again", "No money was taken"},
		},
		{
			name: "payment failed fr", topic: caisse.TopicPaymentFailed, order: eur("fr_CA", 0, 0), lang: "fr",
			payload: map[string]any{"error": "Votre carte a été refusée."},
			subject: []string{"n'a pas abouti", "ord_1"},
			want:    []string{"Votre carte a été refusée.", "réessayer"},
		},
		{
			name: "refunded en", topic: caisse.TopicOrderRefunded, order: eur("en", 1500, 1500), lang: "en",
			subject: []string{"refunded", "ord_1"},
			want:    []string{"€15.00 of the €15.00 you paid"},
		},
		{
			name: "refunded fr", topic: caisse.TopicOrderRefunded, order: eur("fr", 1500, 1500), lang: "fr",
			subject: []string{"remboursée", "ord_1"},
			want:    []string{"15,00" + nbsp + "€ sur les 15,00" + nbsp + "€ payés"},
		},
		{
			name: "partially refunded en", topic: caisse.TopicPartialRefund, order: eur("en", 1500, 500), lang: "en",
			subject: []string{"part of your order", "ord_1"},
			want:    []string{"€5.00 of the €15.00 you paid"},
		},
		{
			name: "partially refunded fr JPY", topic: caisse.TopicPartialRefund, order: jpy("fr", 5000, 2000), lang: "fr",
			subject: []string{"une partie", "ord_1"},
			want:    []string{"2" + nnbsp + "000" + nbsp + "¥ sur les 5" + nnbsp + "000" + nbsp + "¥ payés"},
		},
		{
			name: "apology oversold en", topic: caisse.TopicRefundApology, order: eur("en", 2500, 0), lang: "en",
			// As the payload comes back from JSON: a float64.
			payload: map[string]any{"reason": "oversold", "amount": float64(2500), "currency": "eur"},
			subject: []string{"sorry", "ord_1"},
			want:    []string{"no longer available", "€25.00", "refunded"},
		},
		{
			name: "apology mismatch fr JPY", topic: caisse.TopicRefundApology, order: eur("fr", 0, 0), lang: "fr",
			payload: map[string]any{"reason": "payment_mismatch", "amount": int64(3000), "currency": "jpy"},
			subject: []string{"excuses", "ord_1"},
			want:    []string{"ne correspondait pas", "3" + nnbsp + "000" + nbsp + "¥", "remboursé"},
		},
		{
			name: "apology without amount uses the order's", topic: caisse.TopicRefundApology, order: eur("en", 2500, 2500), lang: "en",
			payload: map[string]any{"reason": "oversold"},
			want:    []string{"no longer available", "€25.00"},
		},
		{
			name: "unknown locale falls back to the configured one", topic: caisse.TopicOrderConfirmation, order: eur("de", 1500, 0),
			locale: "fr", lang: "fr",
			subject: []string{"confirmée"},
			want:    []string{"15,00" + nbsp + "€"},
		},
		{
			name: "no locale falls back to the configured one", topic: caisse.TopicOrderConfirmation, order: eur("", 1500, 0),
			locale: "en", lang: "en",
			subject: []string{"confirmed"},
			want:    []string{"€15.00"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, smtptest.Options{}, func(c *smtp.Config) { c.Locale = tt.locale })
			id := "dlv_" + strconv.Itoa(i) + "-x"
			if err := b.sender.Send(context.Background(), customerNotice(id, tt.topic, tt.order, tt.payload)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := b.server.Only(t)
			if got.From != "shop@lune.example" || len(got.To) != 1 || got.To[0] != "customer@example.com" {
				t.Errorf("envelope from %q to %q, want shop@lune.example to customer@example.com", got.From, got.To)
			}
			e := smtptest.ParseEmail(t, got.Data)
			checkHeaders(t, e, id, "customer@example.com", tt.lang)
			for _, s := range tt.subject {
				if !strings.Contains(e.Subject, s) {
					t.Errorf("subject %q lacks %q", e.Subject, s)
				}
			}
			htmlText := visible(e.HTML)
			for _, s := range tt.want {
				if !strings.Contains(e.Text, s) {
					t.Errorf("text part lacks %q:\n%s", s, e.Text)
				}
				if !strings.Contains(htmlText, s) {
					t.Errorf("HTML part lacks %q:\n%s", s, e.HTML)
				}
			}
		})
	}
}

// TestRecipientFromOrder: a customer email whose delivery names no
// address goes to the order's.
func TestRecipientFromOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, smtptest.Options{}, nil)
	n := customerNotice("dlv_rcpt_order", caisse.TopicOrderConfirmation, caisse.Order{Currency: "eur", AmountPaid: 1500}, nil)
	n.Delivery.Recipient = ""
	n.Order.CustomerEmail = "Camille <camille@example.fr>"
	if err := b.sender.Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got := b.server.Only(t); len(got.To) != 1 || got.To[0] != "camille@example.fr" {
		t.Errorf("envelope to %q, want the order's address camille@example.fr", got.To)
	}

	// Not for an artist's email: its address is the delivery's only.
	n = caisse.Notice{
		Delivery: caisse.Delivery{ID: "dlv_rcpt_artist", Channel: caisse.ChannelEmail, Topic: caisse.TopicArtistSale,
			OrderID: "ord_1", ProductID: "prod_tote"},
		Order: &caisse.Order{ID: "ord_1", CustomerEmail: "camille@example.fr"},
	}
	de := caisse.AsDeliveryError(b.sender.Send(context.Background(), n))
	if de == nil || !de.Permanent || !strings.Contains(de.Message, "artist") || !strings.Contains(de.Message, "prod_tote") {
		t.Fatalf("Send returned %v, want a permanent DeliveryError about the artist's address of prod_tote", de)
	}
	if n := len(b.server.Messages()); n != 1 {
		t.Errorf("the server received %d messages, want 1", n)
	}
}

// checkHeaders checks what every email carries: From, To, the delivery's
// Message-ID, its language and its date.
func checkHeaders(t *testing.T, e smtptest.Email, id, to, lang string) {
	t.Helper()
	from, err := e.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "shop@lune.example" || from[0].Name != "Boutique Lune" {
		t.Errorf("From is %q (%v), want Boutique Lune <shop@lune.example>", e.Header.Get("From"), err)
	}
	rcpt, err := e.Header.AddressList("To")
	if err != nil || len(rcpt) != 1 || rcpt[0].Address != to {
		t.Errorf("To is %q (%v), want %s", e.Header.Get("To"), err, to)
	}
	if got, want := e.Header.Get("Message-ID"), "<"+id+"@lune.example>"; got != want {
		t.Errorf("Message-ID is %q, want %q", got, want)
	}
	if got := e.Header.Get("Content-Language"); got != lang {
		t.Errorf("Content-Language is %q, want %q", got, lang)
	}
	if date, err := e.Header.Date(); err != nil || !date.Equal(sentAt) {
		t.Errorf("Date is %q (%v), want %v", e.Header.Get("Date"), err, sentAt)
	}
}

// TestHTMLIsEscaped: a product's name is the owner's text, and the payment
// error Stripe's; neither can change the HTML around it.
func TestHTMLIsEscaped(t *testing.T) {
	t.Parallel()
	b := setup(t, smtptest.Options{}, nil)
	n := customerNotice("dlv_html", caisse.TopicOrderConfirmation, caisse.Order{Currency: "eur", AmountPaid: 1500}, nil)
	n.ItemNames["prod_tote"] = `<img src=x onerror=alert(1)>`
	if err := b.sender.Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	e := smtptest.ParseEmail(t, b.server.Only(t).Data)
	if strings.Contains(e.HTML, "<img") || !strings.Contains(e.HTML, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("the item's name is not escaped in the HTML part:\n%s", e.HTML)
	}
	if !strings.Contains(e.Text, "2 × <img src=x onerror=alert(1)>") {
		t.Errorf("the text part should show the name as it is:\n%s", e.Text)
	}
}

func TestTemplateOverride(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	override := `{{define "subject"}}Commande {{.OrderID}} : merci !{{end}}Merci {{range .Items}}{{.Name}} {{end}}— {{.Amount}}`
	if err := os.WriteFile(filepath.Join(dir, "order_confirmation.fr.txt"), []byte(override), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("not a template"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := setup(t, smtptest.Options{}, func(c *smtp.Config) { c.Templates = dir })
	n := customerNotice("dlv_override", caisse.TopicOrderConfirmation, caisse.Order{Locale: "fr", Currency: "eur", AmountPaid: 1500}, nil)
	if err := b.sender.Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	e := smtptest.ParseEmail(t, b.server.Only(t).Data)
	if e.Subject != "Commande ord_1 : merci !" {
		t.Errorf("subject is %q, want the override's", e.Subject)
	}
	if strings.TrimSpace(e.Text) != "Merci Tote bag prod_mug — 15,00"+nbsp+"€" {
		t.Errorf("text part is %q, want the override's", e.Text)
	}
	if !strings.Contains(smtptest.Visible(e.HTML), "Merci pour votre commande") {
		t.Errorf("the HTML part, not overridden, should be the embedded one:\n%s", e.HTML)
	}

	// The English email is not overridden.
	n = customerNotice("dlv_override_en", caisse.TopicOrderConfirmation, caisse.Order{Locale: "en", Currency: "eur", AmountPaid: 1500}, nil)
	if err := b.sender.Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := b.server.Messages()
	if e := smtptest.ParseEmail(t, msgs[len(msgs)-1].Data); !strings.Contains(e.Subject, "confirmed") {
		t.Errorf("English subject is %q, want the embedded one", e.Subject)
	}
}

func TestTemplateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		file    string
		content string
		want    []string
	}{
		{"unknown name", "order_confirmation.de.txt", `{{define "subject"}}x{{end}}x`, []string{"CAISSE_TEMPLATES", "order_confirmation.de.txt", "order_confirmation.fr.txt"}},
		{"no subject", "payment_failed.en.txt", `Hello`, []string{"CAISSE_TEMPLATES", "payment_failed.en.txt", "subject"}},
		{"does not parse", "alert.fr.html", `<p>{{.Title</p>`, []string{"CAISSE_TEMPLATES", "alert.fr.html"}},
		{"unknown field", "order_refunded.en.html", `<p>{{.Total}}</p>`, []string{"CAISSE_TEMPLATES", "order_refunded.en.html", "Total"}},
		{"unknown field in the subject", "refund_apology.fr.txt", `{{define "subject"}}{{.Client}}{{end}}x`, []string{"CAISSE_TEMPLATES", "refund_apology.fr.txt", "Client"}},
		// An artist's templates are given nothing of the buyer to show.
		{"an artist's email naming the buyer", "artist_sale.fr.txt", `{{define "subject"}}Vendu à {{.Customer.Name}}{{end}}x`, []string{"CAISSE_TEMPLATES", "artist_sale.fr.txt", "Customer"}},
		{"an artist's email naming the buyer's address", "artist_sale_cancelled.en.html", `<p>{{.CustomerEmail}}</p>`, []string{"CAISSE_TEMPLATES", "artist_sale_cancelled.en.html", "CustomerEmail"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := smtp.New(smtp.Config{URL: "smtp://127.0.0.1:1025", From: "shop@lune.example", Templates: dir})
			if err == nil {
				t.Fatal("New accepted the templates")
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	const password = "s3cr3t-Pa55"
	tests := []struct {
		name string
		cfg  smtp.Config
		want string
	}{
		{"no URL", smtp.Config{From: "shop@lune.example"}, "CAISSE_SMTP_URL"},
		{"not a URL", smtp.Config{URL: "smtp://user:" + password + "@mail example.com:587", From: "shop@lune.example"}, "CAISSE_SMTP_URL"},
		{"bad port", smtp.Config{URL: "smtp://user:" + password + "@mail.example.com:99999", From: "shop@lune.example"}, "CAISSE_SMTP_URL"},
		{"password cut by a slash", smtp.Config{URL: "smtp://user:" + password + "/x@mail.example.com", From: "shop@lune.example"}, "CAISSE_SMTP_URL"},
		{"other scheme", smtp.Config{URL: "https://user:" + password + "@mail.example.com", From: "shop@lune.example"}, "CAISSE_SMTP_URL"},
		{"no host", smtp.Config{URL: "smtp://user:" + password + "@:587", From: "shop@lune.example"}, "CAISSE_SMTP_URL"},
		{"a path", smtp.Config{URL: "smtp://user:" + password + "@mail.example.com/inbox", From: "shop@lune.example"}, "CAISSE_SMTP_URL"},
		{"no password", smtp.Config{URL: "smtp://user@mail.example.com", From: "shop@lune.example"}, "CAISSE_SMTP_URL"},
		{"no From", smtp.Config{URL: "smtp://user:" + password + "@mail.example.com"}, "CAISSE_MAIL_FROM"},
		{"From not an address", smtp.Config{URL: "smtp://user:" + password + "@mail.example.com", From: "Shop"}, "CAISSE_MAIL_FROM"},
		{"unknown locale", smtp.Config{URL: "smtp://127.0.0.1:1025", From: "shop@lune.example", Locale: "de"}, "CAISSE_LOCALE"},
		{"missing templates folder", smtp.Config{URL: "smtp://127.0.0.1:1025", From: "shop@lune.example", Templates: filepath.Join(t.TempDir(), "missing")}, "CAISSE_TEMPLATES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := smtp.New(tt.cfg)
			if err == nil {
				t.Fatal("New accepted the configuration")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestStringHidesPassword(t *testing.T) {
	t.Parallel()
	s, err := smtp.New(smtp.Config{URL: "smtp://shop%40lune.example:s3cr3t@mail.example.com", From: "shop@lune.example"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "smtp://shop%40lune.example@mail.example.com:587 (STARTTLS)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestStartTLSWithAuth(t *testing.T) {
	t.Parallel()
	opts := smtptest.Options{TLS: true, User: "shop@lune.example", Password: "c0rrect horse"}
	ms := smtptest.Start(t, opts)
	cfg := smtp.Config{
		// Special characters in the password are percent-encoded.
		URL:       ms.URL("smtp", "shop%40lune.example", "c0rrect%20horse"),
		From:      "Boutique Lune <shop@lune.example>",
		TLSConfig: smtptest.ClientTLSConfig(),
		Timeout:   time.Minute,
		Now:       func() time.Time { return sentAt },
	}
	s, err := smtp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := customerNotice("dlv_tls", caisse.TopicOrderConfirmation, caisse.Order{Currency: "eur", AmountPaid: 1500}, nil)
	if err := s.Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := ms.Only(t)
	if !got.TLS {
		t.Error("the message came over a connection without TLS")
	}
	if got.User != "shop@lune.example" {
		t.Errorf("signed in as %q, want shop@lune.example", got.User)
	}
	checkHeaders(t, smtptest.ParseEmail(t, got.Data), "dlv_tls", "customer@example.com", "en")
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	ms := smtptest.Start(t, smtptest.Options{TLS: true, User: "shop", Password: "right-password"})
	const wrong = "wr0ng-passw0rd"
	s, err := smtp.New(smtp.Config{
		URL: ms.URL("smtp", "shop", wrong), From: "shop@lune.example",
		TLSConfig: smtptest.ClientTLSConfig(), Timeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), customerNotice("dlv_auth", caisse.TopicOrderConfirmation, caisse.Order{Currency: "eur", AmountPaid: 1500}, nil))
	de := caisse.AsDeliveryError(err)
	if de == nil || !de.Permanent {
		t.Fatalf("Send returned %v, want a permanent DeliveryError", err)
	}
	for _, s := range []string{"CAISSE_SMTP_URL", `"shop"`, "password", "535"} {
		if !strings.Contains(de.Message, s) {
			t.Errorf("message %q lacks %q", de.Message, s)
		}
	}
	if strings.Contains(de.Message, wrong) {
		t.Errorf("message %q shows the password", de.Message)
	}
	if got := ms.Auths(); len(got) != 1 || got[0] != "shop" {
		t.Errorf("AUTH attempts %q, want one as shop", got)
	}
	if n := len(ms.Messages()); n != 0 {
		t.Errorf("the server received %d messages", n)
	}
}

// TestNoPasswordWithoutTLS: with a user in CAISSE_SMTP_URL, a server that does
// not offer STARTTLS is never sent the password.
func TestNoPasswordWithoutTLS(t *testing.T) {
	t.Parallel()
	ms := smtptest.Start(t, smtptest.Options{User: "shop", Password: "pw"})
	s, err := smtp.New(smtp.Config{URL: ms.URL("smtp", "shop", "pw"), From: "shop@lune.example", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), customerNotice("dlv_notls", caisse.TopicOrderConfirmation, caisse.Order{}, nil))
	if de := caisse.AsDeliveryError(err); de == nil || !strings.Contains(de.Message, "STARTTLS") {
		t.Fatalf("Send returned %v, want a DeliveryError that says STARTTLS is missing", err)
	}
	if got := ms.Auths(); len(got) != 0 {
		t.Errorf("the client tried to sign in without TLS: %q", got)
	}
}

func TestImplicitTLS(t *testing.T) {
	t.Parallel()
	ms := smtptest.Start(t, smtptest.Options{ImplicitTLS: true, User: "shop", Password: "pw"})
	s, err := smtp.New(smtp.Config{
		URL: ms.URL("smtps", "shop", "pw"), From: "Boutique Lune <shop@lune.example>",
		TLSConfig: smtptest.ClientTLSConfig(), Timeout: time.Minute, Now: func() time.Time { return sentAt },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), customerNotice("dlv_smtps", caisse.TopicPaymentFailed, caisse.Order{Locale: "fr"}, nil)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := ms.Only(t)
	if !got.TLS || got.User != "shop" {
		t.Errorf("TLS %v, user %q: want TLS, signed in as shop", got.TLS, got.User)
	}
	checkHeaders(t, smtptest.ParseEmail(t, got.Data), "dlv_smtps", "customer@example.com", "fr")
}

// TestUntrustedCertificate: without the test certificate's authority, the
// server is not trusted, and the email waits for a retry.
func TestUntrustedCertificate(t *testing.T) {
	t.Parallel()
	ms := smtptest.Start(t, smtptest.Options{TLS: true, User: "shop", Password: "pw"})
	s, err := smtp.New(smtp.Config{URL: ms.URL("smtp", "shop", "pw"), From: "shop@lune.example", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), customerNotice("dlv_cert", caisse.TopicOrderConfirmation, caisse.Order{}, nil))
	de := caisse.AsDeliveryError(err)
	if de == nil || de.Permanent || !strings.Contains(de.Message, "certificate") {
		t.Fatalf("Send returned %v, want a retryable DeliveryError about the certificate", err)
	}
	if got := ms.Auths(); len(got) != 0 {
		t.Errorf("the client signed in to an untrusted server: %q", got)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		reply     *gosmtp.SMTPError
		channel   caisse.Channel
		permanent bool
		want      []string
	}{
		{"550 no such mailbox", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox"},
			caisse.ChannelEmail, true, []string{"550", "No such mailbox", "customer@example.com", "customer"}},
		{"553 to a team address", &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 1, 3}, Message: "Mailbox name not allowed"},
			caisse.ChannelAlert, true, []string{"553", "CAISSE_ALERT_EMAIL"}},
		{"451 try later", &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "Greylisted, come back later"},
			caisse.ChannelEmail, false, []string{"451", "Greylisted", "try again"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, smtptest.Options{RcptReply: tt.reply}, nil)
			n := customerNotice("dlv_refused", caisse.TopicOrderConfirmation, caisse.Order{Currency: "eur", AmountPaid: 1500}, nil)
			n.Delivery.Channel = tt.channel
			n.Delivery.Payload = map[string]any{"title": "Order oversold"}
			err := b.sender.Send(context.Background(), n)
			de := caisse.AsDeliveryError(err)
			if de == nil || de.Permanent != tt.permanent {
				t.Fatalf("Send returned %#v, want a DeliveryError with Permanent %v", err, tt.permanent)
			}
			for _, s := range tt.want {
				if !strings.Contains(de.Message, s) {
					t.Errorf("message %q lacks %q", de.Message, s)
				}
			}
		})
	}
}

func TestServerDown(t *testing.T) {
	t.Parallel()
	// A port that was just free: nothing listens on it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s, err := smtp.New(smtp.Config{URL: "smtp://" + addr, From: "shop@lune.example", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), customerNotice("dlv_down", caisse.TopicOrderConfirmation, caisse.Order{}, nil))
	de := caisse.AsDeliveryError(err)
	if de == nil || de.Permanent {
		t.Fatalf("Send returned %v, want a retryable DeliveryError", err)
	}
	if !strings.Contains(de.Message, addr) || !strings.Contains(de.Message, "CAISSE_SMTP_URL") {
		t.Errorf("message %q should name the server %s and CAISSE_SMTP_URL", de.Message, addr)
	}
}

// TestCancelledSend: a server that accepts the connection and never answers
// holds a send only until its context ends.
func TestCancelledSend(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			accepted <- c
		}
	}()
	s, err := smtp.New(smtp.Config{URL: "smtp://" + l.Addr().String(), From: "shop@lune.example", Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		c := <-accepted
		t.Cleanup(func() { c.Close() })
		cancel()
	}()
	err = s.Send(ctx, customerNotice("dlv_cancel", caisse.TopicOrderConfirmation, caisse.Order{}, nil))
	de := caisse.AsDeliveryError(err)
	if de == nil || de.Permanent {
		t.Fatalf("Send returned %v, want a retryable DeliveryError", err)
	}
}

func TestBadRecipient(t *testing.T) {
	t.Parallel()
	for _, rcpt := range []string{"", "not an address", "customer@example.com\r\nBcc: everyone@example.com"} {
		t.Run(strconv.Quote(rcpt), func(t *testing.T) {
			t.Parallel()
			b := setup(t, smtptest.Options{}, nil)
			n := customerNotice("dlv_rcpt", caisse.TopicOrderConfirmation, caisse.Order{}, nil)
			n.Delivery.Recipient = rcpt
			n.Order.CustomerEmail = rcpt
			de := caisse.AsDeliveryError(b.sender.Send(context.Background(), n))
			if de == nil || !de.Permanent {
				t.Fatalf("Send returned %v, want a permanent DeliveryError", de)
			}
			if n := len(b.server.Messages()); n != 0 {
				t.Errorf("the server received %d messages", n)
			}
		})
	}
}

func TestBadDeliveryID(t *testing.T) {
	t.Parallel()
	b := setup(t, smtptest.Options{}, nil)
	n := customerNotice("dlv>\r\nBcc: x@example.com", caisse.TopicOrderConfirmation, caisse.Order{}, nil)
	if de := caisse.AsDeliveryError(b.sender.Send(context.Background(), n)); de == nil || !de.Permanent {
		t.Fatalf("Send returned %v, want a permanent DeliveryError", de)
	}
	if n := len(b.server.Messages()); n != 0 {
		t.Errorf("the server received %d messages", n)
	}
}

func TestAlert(t *testing.T) {
	t.Parallel()
	b := setup(t, smtptest.Options{}, nil)
	n := caisse.Notice{
		Delivery: caisse.Delivery{
			ID: "dlv_alert_1", Channel: caisse.ChannelAlert, Topic: caisse.TopicDisputeOpened,
			Recipient: "team@lune.example", OrderID: "ord_7",
			Payload: map[string]any{
				"title":  "Dispute opened on order ord_7",
				"text":   "The customer's bank disputes the payment.",
				"fields": map[string]any{"Amount": "15.00 EUR", "Reason": "fraudulent", "Evidence due": "2025-03-21"},
				"link":   "https://shop.example/admin/orders/ord_7",
			},
		},
		ShopName: "Lune",
	}
	if err := b.sender.Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := b.server.Only(t)
	if len(got.To) != 1 || got.To[0] != "team@lune.example" {
		t.Errorf("envelope to %q, want team@lune.example", got.To)
	}
	e := smtptest.ParseEmail(t, got.Data)
	checkHeaders(t, e, "dlv_alert_1", "team@lune.example", "en")
	if e.Subject != "[Lune] Dispute opened on order ord_7" {
		t.Errorf("subject is %q", e.Subject)
	}
	htmlText := smtptest.Visible(e.HTML)
	for _, s := range []string{"The customer's bank disputes the payment.", "fraudulent", "2025-03-21", "15.00 EUR", "https://shop.example/admin/orders/ord_7"} {
		if !strings.Contains(e.Text, s) || !strings.Contains(htmlText, s) {
			t.Errorf("text or HTML lacks %q:\n%s\n%s", s, e.Text, e.HTML)
		}
	}
	if !strings.Contains(e.Text, "Amount: 15.00 EUR\nEvidence due: 2025-03-21\nReason: fraudulent\n") {
		t.Errorf("text part should list the fields by label:\n%s", e.Text)
	}
	if !strings.Contains(e.HTML, `href="https://shop.example/admin/orders/ord_7"`) {
		t.Errorf("HTML part lacks the link:\n%s", e.HTML)
	}
}

func TestGroupedAlert(t *testing.T) {
	t.Parallel()
	b := setup(t, smtptest.Options{}, func(c *smtp.Config) { c.Locale = "fr" })
	row := func(i int) caisse.Delivery {
		return caisse.Delivery{
			ID: "dlv_g" + strconv.Itoa(i), Channel: caisse.ChannelAlert, Topic: caisse.TopicPaymentMismatch,
			Recipient: "team@lune.example", OrderID: "ord_" + strconv.Itoa(i),
			Payload: map[string]any{"title": "Paiement non conforme", "text": "Payé 5,00 EUR sur 15,00 EUR dus.\nDétails plus bas."},
		}
	}
	n := caisse.Notice{Delivery: row(1), ShopName: "Lune"}
	for i := 2; i <= 25; i++ {
		n.Group = append(n.Group, row(i))
	}
	// One alert of the group is about a product, with only a title.
	n.Group[3] = caisse.Delivery{ID: "dlv_gp", ProductID: "prod_tote", Payload: map[string]any{"title": "Stock négatif évité"}}
	if err := b.sender.Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	e := smtptest.ParseEmail(t, b.server.Only(t).Data)
	checkHeaders(t, e, "dlv_g1", "team@lune.example", "fr")
	if e.Subject != "[Lune] 25 × Paiement non conforme" {
		t.Errorf("subject is %q, want the count and the title", e.Subject)
	}
	htmlText := smtptest.Visible(e.HTML)
	for _, s := range []string{
		"25 × Paiement non conforme",
		"commande ord_1 : Payé 5,00 EUR sur 15,00 EUR dus.",
		"commande ord_20",
		"produit prod_tote : Stock négatif évité",
		"et 5 de plus",
	} {
		if !strings.Contains(e.Text, s) || !strings.Contains(htmlText, s) {
			t.Errorf("text or HTML lacks %q:\n%s\n%s", s, e.Text, e.HTML)
		}
	}
	if strings.Contains(e.Text, "ord_21") || strings.Contains(e.Text, "Détails plus bas") {
		t.Errorf("text part lists more than 20 alerts, or more than their first line:\n%s", e.Text)
	}
}

func TestTestMessage(t *testing.T) {
	t.Parallel()
	b := setup(t, smtptest.Options{}, nil)
	n := caisse.Notice{
		Delivery: caisse.Delivery{ID: "dlv_test", Channel: caisse.ChannelAlert, Topic: caisse.TopicTest, Recipient: "team@lune.example"},
		ShopName: "Lune",
	}
	if err := b.sender.Send(context.Background(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	e := smtptest.ParseEmail(t, b.server.Only(t).Data)
	checkHeaders(t, e, "dlv_test", "team@lune.example", "en")
	if e.Subject != "[Lune] Test message" || !strings.Contains(e.Text, "caisse can send email to this address") {
		t.Errorf("subject %q, text %q: want caisse's test message", e.Subject, e.Text)
	}
}

// TestSMTPSOnAPlainPort: smtps:// on a port that speaks plain SMTP first says
// which scheme to write.
func TestSMTPSOnAPlainPort(t *testing.T) {
	t.Parallel()
	ms := smtptest.Start(t, smtptest.Options{TLS: true, User: "shop", Password: "pw"})
	s, err := smtp.New(smtp.Config{URL: ms.URL("smtps", "shop", "pw"), From: "shop@lune.example", TLSConfig: smtptest.ClientTLSConfig(), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), customerNotice("dlv_scheme", caisse.TopicOrderConfirmation, caisse.Order{}, nil))
	de := caisse.AsDeliveryError(err)
	if de == nil || de.Permanent || !strings.Contains(de.Message, "smtp://") {
		t.Fatalf("Send returned %v, want a retryable DeliveryError that suggests smtp://", err)
	}
	if got := ms.Auths(); len(got) != 0 {
		t.Errorf("the client signed in: %q", got)
	}
}

func TestUnknownTopic(t *testing.T) {
	t.Parallel()
	b := setup(t, smtptest.Options{}, nil)
	for _, topic := range []string{"alert", "order.paid", caisse.TopicOversold} {
		n := customerNotice("dlv_topic", topic, caisse.Order{}, nil)
		if de := caisse.AsDeliveryError(b.sender.Send(context.Background(), n)); de == nil || !de.Permanent || !strings.Contains(de.Message, topic) {
			t.Errorf("topic %s: Send returned %v, want a permanent DeliveryError naming the topic", topic, de)
		}
	}
	if n := len(b.server.Messages()); n != 0 {
		t.Errorf("the server received %d messages", n)
	}
}

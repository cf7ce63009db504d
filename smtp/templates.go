package smtp

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	texttemplate "text/template"
	"unicode"

	"github.com/caisse/caisse"
)

// EmailData is what the templates of customer emails are given. Amounts
// are written for the email's language, after CLDR: "15,00 €" (with a
// no-break space) in French, "€15.00" in English, "¥5,000" for yen.
type EmailData struct {
	// Shop is the shop's name.
	Shop string
	// OrderID is the order's id.
	OrderID string
	// Items are the order's lines: name, quantity and prices as sold.
	Items []ItemLine
	// Amount is the amount the email is about, formatted for its language:
	// what was paid for order_confirmation, what was refunded for
	// order_refunded, order_partially_refunded and refund_apology. Empty
	// when unknown.
	Amount string
	// AmountPaid is what the order was paid, formatted; empty when nothing
	// was paid.
	AmountPaid string
	// AmountRefunded is what was refunded of it, formatted; empty when
	// nothing was.
	AmountRefunded string
	// Decline says why the payment was declined and what to do, in the
	// customer's words and the email's language (payment_failed), when
	// Stripe gave a reason caisse knows (such as insufficient_funds);
	// empty otherwise, and Error is then what there is to say.
	Decline string
	// Error is the payment's error as Stripe wrote it (payment_failed),
	// usually in English, such as "Your card was declined."; empty when
	// Stripe gave none.
	Error string
	// RetryURL is where the customer can pay again (payment_failed): the
	// order's checkout page while it is open, else the shop's site
	// (CAISSE_SHOP_URL); empty when there is neither.
	RetryURL string
	// Reason is why caisse refunded the payment (refund_apology):
	// "oversold" (the item was no longer available) or "payment_mismatch"
	// (the payment did not match the order).
	Reason string
	// Shipment is how the order left (order_shipped): carrier, tracking
	// number and the page to follow it, as the order holds them when the
	// email is sent.
	Shipment *caisse.Shipment
	// Correction is set when the email corrects the tracking an earlier
	// one gave (order_shipped).
	Correction bool
	// ShipTo is the address label the parcel goes to (order_shipped), one
	// line each; empty when the order has none.
	ShipTo []string
}

// ItemLine is one line of an order.
type ItemLine struct {
	// Name is the product's name as sold, else as the catalogue has it,
	// else its id (always its id for a product not in the catalogue).
	Name string
	// Quantity is how many were ordered.
	Quantity int64
	// UnitPrice is the price of one unit as sold, formatted; empty when
	// unknown.
	UnitPrice string
	// Total is UnitPrice × Quantity, formatted; empty when unknown.
	Total string
}

// ArtistData is what the templates of an artist's emails are given
// (artist_sale, artist_sale_cancelled): the work, its price and the
// artist's share. It holds nothing of the buyer, on purpose: a template
// cannot show what it is not given.
type ArtistData struct {
	// Shop is the shop's name.
	Shop string
	// ArtistName is the artist's name as the work named them when it sold;
	// empty when it named none.
	ArtistName string
	// Work is the work's name as sold, else as the catalogue has it, else
	// its product id.
	Work string
	// ProductID is the work's product id.
	ProductID string
	// Quantity is how many units of the work the order took.
	Quantity int64
	// UnitPrice is the price of one unit, formatted; Price the price of the
	// sale (UnitPrice × Quantity). Empty when unknown.
	UnitPrice, Price string
	// SharePercent is the artist's share as a percentage, formatted for the
	// language ("60 %" in French, "60%" in English); empty when the work
	// has no share set.
	SharePercent string
	// Share is the artist's share of Price, formatted; empty when either is
	// unknown.
	Share string
	// Date is when the sale was recorded (artist_sale) or its cancellation
	// (artist_sale_cancelled), as a date written for the language: "5
	// décembre 2026", "December 5, 2026".
	Date string
	// OrderID is the id of the order the work sold on.
	OrderID string
}

// AlertData is what the templates of team alerts are given.
type AlertData struct {
	// Shop is the shop's name.
	Shop string
	// Topic says what the alert is about, such as order_oversold.
	Topic string
	// Title is the alert's title, and Text what it says.
	Title, Text string
	// Fields are the alert's details, sorted by label.
	Fields []AlertField
	// Link is where to look, such as the order's admin page; may be empty.
	Link string
	// Count is how many alerts the email stands for: more than 1 when
	// alerts of one topic were grouped into one email.
	Count int
	// Rows describe each grouped alert briefly, when Count > 1; at most
	// maxRows of them, More says how many are left out.
	Rows []AlertRow
	// More is the number of grouped alerts not in Rows.
	More int
}

// AlertField is one detail of an alert.
type AlertField struct {
	Label, Value string
}

// AlertRow is one alert of a group.
type AlertRow struct {
	// OrderID and ProductID say what the alert is about, when it is about
	// an order or a product.
	OrderID, ProductID string
	// Summary is the start of the alert's text, or its title.
	Summary string
}

// kinds are the emails caisse writes, each with a template pair per
// language: the customer topics (EmailData), the artist's topics
// (ArtistData), and "alert" for team alerts and test messages (AlertData).
var kinds = []string{
	caisse.TopicOrderConfirmation,
	caisse.TopicPaymentFailed,
	caisse.TopicOrderRefunded,
	caisse.TopicPartialRefund,
	caisse.TopicRefundApology,
	caisse.TopicOrderShipped,
	caisse.TopicArtistSale,
	caisse.TopicArtistSaleCancelled,
	alertKind,
}

// artistKind says whether a kind is an email to a work's artist.
func artistKind(kind string) bool {
	return kind == caisse.TopicArtistSale || kind == caisse.TopicArtistSaleCancelled
}

// alertKind names the templates of team alerts.
const alertKind = "alert"

// languages are the languages of every email.
var languages = []string{"en", "fr"}

// page is one email's templates: the text part, which also defines the
// subject, and the HTML part.
type page struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// rendered is an email's words, ready to send.
type rendered struct {
	subject, text, html string
}

// render fills the page with data.
func (p page) render(data any) (rendered, error) {
	var subject, text, html bytes.Buffer
	if err := p.text.ExecuteTemplate(&subject, "subject", data); err != nil {
		return rendered{}, fmt.Errorf("error writing the subject: %w", err)
	}
	if err := p.text.Execute(&text, data); err != nil {
		return rendered{}, fmt.Errorf("error writing the text part: %w", err)
	}
	if err := p.html.Execute(&html, data); err != nil {
		return rendered{}, fmt.Errorf("error writing the HTML part: %w", err)
	}
	return rendered{
		// A subject is one line, whatever a template or a value brings;
		// the no-break spaces money and French punctuation are written
		// with stay.
		subject: strings.Join(strings.FieldsFunc(subject.String(), breakingSpace), " "),
		text:    strings.TrimLeft(text.String(), "\r\n"),
		html:    html.String(),
	}, nil
}

// breakingSpace says whether r is white space a line may break at: any
// but the no-break spaces.
func breakingSpace(r rune) bool {
	return unicode.IsSpace(r) && r != '\u00a0' && r != '\u202f' && r != '\u2007'
}

// templates holds every page, by kind and language ("alert.fr").
type templates map[string]page

//go:embed templates
var embedded embed.FS

// loadTemplates parses the embedded templates, each replaced by the file of
// the same name in dir when dir is not "", and checks that every page renders
// with sample data, so a broken override stops caisse at start rather than
// failing each email.
func loadTemplates(dir string) (templates, error) {
	base, err := fs.Sub(embedded, "templates")
	if err != nil {
		return nil, fmt.Errorf("error reading the embedded templates: %w", err)
	}
	overrides := map[string]bool{}
	var local fs.FS
	if dir != "" {
		local = os.DirFS(dir)
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, caisse.WithFix(fmt.Errorf("CAISSE_TEMPLATES: cannot read the folder %s (%v)", dir, err), "set it to a folder of templates, or leave it unset to use the built-in ones")
		}
		known := templateNames()
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || (path.Ext(name) != ".txt" && path.Ext(name) != ".html") {
				continue
			}
			if !slices.Contains(known, name) {
				return nil, caisse.WithFix(fmt.Errorf("CAISSE_TEMPLATES: %s in %s is not a template caisse knows", name, dir), fmt.Sprintf("rename it to one of %s, or move it out of the folder", strings.Join(known, ", ")))
			}
			overrides[name] = true
		}
	}
	open := func(name string) ([]byte, error) {
		if overrides[name] {
			b, err := fs.ReadFile(local, name)
			if err != nil {
				return nil, fmt.Errorf("CAISSE_TEMPLATES: cannot read %s: %w", path.Join(dir, name), err)
			}
			return b, nil
		}
		b, err := fs.ReadFile(base, name)
		if err != nil {
			return nil, fmt.Errorf("error reading the embedded template %s: %w", name, err)
		}
		return b, nil
	}
	where := func(name string) string {
		if overrides[name] {
			return "CAISSE_TEMPLATES: " + path.Join(dir, name)
		}
		return "embedded template " + name
	}

	t := templates{}
	for _, kind := range kinds {
		for _, lang := range languages {
			key := kind + "." + lang
			textSrc, err := open(key + ".txt")
			if err != nil {
				return nil, err
			}
			htmlSrc, err := open(key + ".html")
			if err != nil {
				return nil, err
			}
			var p page
			if p.text, err = texttemplate.New(key + ".txt").Parse(string(textSrc)); err != nil {
				return nil, fmt.Errorf("%s: %w", where(key+".txt"), err)
			}
			if p.text.Lookup("subject") == nil {
				return nil, caisse.WithFix(fmt.Errorf(`%s has no subject`, where(key+".txt")), `start it with {{define "subject"}}…{{end}}`)
			}
			if p.html, err = htmltemplate.New(key + ".html").Parse(string(htmlSrc)); err != nil {
				return nil, fmt.Errorf("%s: %w", where(key+".html"), err)
			}
			data := sampleData(kind)
			if err := p.text.ExecuteTemplate(io.Discard, "subject", data); err != nil {
				return nil, fmt.Errorf("%s: the subject does not render: %w", where(key+".txt"), err)
			}
			if err := p.text.Execute(io.Discard, data); err != nil {
				return nil, fmt.Errorf("%s does not render: %w", where(key+".txt"), err)
			}
			if err := p.html.Execute(io.Discard, data); err != nil {
				return nil, fmt.Errorf("%s does not render: %w", where(key+".html"), err)
			}
			t[key] = p
		}
	}
	return t, nil
}

// templateNames lists the file names a template folder may hold.
func templateNames() []string {
	var names []string
	for _, kind := range kinds {
		for _, lang := range languages {
			names = append(names, kind+"."+lang+".txt", kind+"."+lang+".html")
		}
	}
	return names
}

// sampleData is what a kind's templates are checked with at start: every
// field set, so a template that names a field that does not exist fails.
func sampleData(kind string) any {
	switch {
	case kind == alertKind:
		return AlertData{
			Shop: "Shop", Topic: caisse.TopicOversold, Title: "Title", Text: "Text",
			Fields: []AlertField{{Label: "Label", Value: "Value"}},
			Link:   "https://example.com/admin/orders/ord_1", Count: 2,
			Rows: []AlertRow{{OrderID: "ord_1", Summary: "Text"}, {ProductID: "prod_1", Summary: "Text"}},
			More: 1,
		}
	case artistKind(kind):
		return ArtistData{
			Shop: "Shop", ArtistName: "Artist", Work: "Work", ProductID: "prod_1", Quantity: 2,
			UnitPrice: "€4,500.00", Price: "€9,000.00", SharePercent: "60%", Share: "€5,400.00",
			Date: "December 5, 2026", OrderID: "ord_1",
		}
	}
	return EmailData{
		Shop: "Shop", OrderID: "ord_1",
		Items:  []ItemLine{{Name: "Item", Quantity: 2, UnitPrice: "€7.50", Total: "€15.00"}},
		Amount: "€15.00", AmountPaid: "€15.00", AmountRefunded: "€15.00",
		Decline: "Your card was declined.", Error: "Your card was declined.",
		RetryURL: "https://checkout.stripe.com/c/pay/cs_1", Reason: "oversold",
	}
}

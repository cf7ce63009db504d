package smtp

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caisse/caisse"
)

// maxRows is how many alerts of a group an email lists.
const maxRows = 20

// emailData gathers what a customer email says.
func (s *Sender) emailData(n caisse.Notice, lang string) EmailData {
	o := n.Order
	data := EmailData{
		Shop:    s.shopName(n),
		OrderID: cmp.Or(o.ID, n.Delivery.OrderID),
		Items:   itemLines(n, lang),
	}
	if o.AmountPaid > 0 {
		data.AmountPaid = caisse.FormatMoney(o.AmountPaid, o.Currency, lang)
	}
	if o.AmountRefunded > 0 {
		data.AmountRefunded = caisse.FormatMoney(o.AmountRefunded, o.Currency, lang)
	}
	p := n.Delivery.Payload
	switch n.Delivery.Topic {
	case caisse.TopicOrderConfirmation:
		data.Amount = data.AmountPaid
	case caisse.TopicPaymentFailed:
		data.Error, _ = p["error"].(string)
		if data.Error == "" {
			data.Error = o.PaymentError
		}
		code, _ := p["code"].(string)
		data.Decline = declineWords(code, lang)
		data.RetryURL = cmp.Or(n.CheckoutURL, s.shopURL)
	case caisse.TopicOrderRefunded, caisse.TopicPartialRefund:
		data.Amount = data.AmountRefunded
	case caisse.TopicOrderShipped:
		// The tracking the order holds now: a correction made before this
		// email went out is the one it gives.
		data.Shipment = o.Shipment
		data.Correction, _ = p["correction"].(bool)
		data.ShipTo = o.Shipping.Lines()
	case caisse.TopicRefundApology:
		data.Reason, _ = p["reason"].(string)
		if amount, ok := payloadAmount(p["amount"]); ok && amount > 0 {
			currency, _ := p["currency"].(string)
			data.Amount = caisse.FormatMoney(amount, cmp.Or(currency, o.Currency), lang)
		} else {
			// The refund of a payment that did not match the order is not
			// in the order's amounts (it never paid it); an oversold
			// order's is.
			data.Amount = cmp.Or(data.AmountRefunded, data.AmountPaid)
		}
	}
	return data
}

// itemLines are the order's lines as a customer email shows them: each
// with its name as sold (else the catalogue's, else its id), its quantity
// and its prices when known. A product not in the catalogue shows its id.
func itemLines(n caisse.Notice, lang string) []ItemLine {
	o := n.Order
	var lines []ItemLine
	for _, l := range o.Items {
		it := ItemLine{Name: strings.TrimSpace(l.Name), Quantity: l.Quantity}
		if it.Name == "" {
			it.Name = strings.TrimSpace(n.ItemNames[l.ProductID])
		}
		if it.Name == "" || slices.Contains(o.UnknownProducts, l.ProductID) {
			it.Name = l.ProductID
		}
		if l.UnitAmount > 0 {
			it.UnitPrice = caisse.FormatMoney(l.UnitAmount, o.Currency, lang)
			if total, ok := lineTotal(l.UnitAmount, l.Quantity); ok {
				it.Total = caisse.FormatMoney(total, o.Currency, lang)
			}
		}
		lines = append(lines, it)
	}
	return lines
}

// lineTotal is the price of quantity units, when it is a sensible amount.
func lineTotal(unit, quantity int64) (int64, bool) {
	if unit <= 0 || quantity <= 0 || unit > caisse.MaxAmount || quantity > caisse.MaxAmount/unit {
		return 0, false
	}
	return unit * quantity, true
}

// artistLanguage is the language of the artist's emails: the work's
// artist locale, else the shop's.
func (s *Sender) artistLanguage(n caisse.Notice) string {
	if n.Product != nil {
		if lang := language(n.Product.ArtistLocale); lang != "" {
			return lang
		}
	}
	return s.lang
}

// artistData gathers what an artist's email says: the order's line of the
// work, its price and the artist's share recorded at the sale; nothing of
// who bought it.
func (s *Sender) artistData(n caisse.Notice, lang string) ArtistData {
	d, o := n.Delivery, n.Order
	data := ArtistData{
		Shop:      s.shopName(n),
		ProductID: d.ProductID,
		OrderID:   cmp.Or(o.ID, d.OrderID),
		Date:      formatDate(d.CreatedAt, lang),
	}
	if name, ok := d.Payload["artist_name"].(string); ok {
		data.ArtistName = strings.TrimSpace(name)
	}
	var line *caisse.Line
	for i := range o.Items {
		if o.Items[i].ProductID == d.ProductID {
			line = &o.Items[i]
			break
		}
	}
	unit, currency := int64(0), o.Currency
	if line != nil {
		data.Work = strings.TrimSpace(line.Name)
		data.Quantity = line.Quantity
		unit = line.UnitAmount
	}
	if p := n.Product; p != nil {
		if data.Work == "" {
			data.Work = strings.TrimSpace(p.Name)
		}
		if unit == 0 && p.Price > 0 {
			unit, currency = p.Price, cmp.Or(p.Currency, o.Currency)
		}
	}
	if data.Work == "" {
		data.Work = cmp.Or(strings.TrimSpace(n.ItemNames[d.ProductID]), d.ProductID)
	}
	var total int64
	if line != nil && unit > 0 {
		data.UnitPrice = caisse.FormatMoney(unit, currency, lang)
		if t, ok := lineTotal(unit, line.Quantity); ok {
			total = t
			data.Price = caisse.FormatMoney(total, currency, lang)
		}
	}
	if share, ok := payloadAmount(d.Payload["share"]); ok && share > 0 && share <= int64(100*caisse.PercentUnit) {
		pct := caisse.Percent(share)
		data.SharePercent = formatPercent(pct, lang)
		if total > 0 {
			data.Share = caisse.FormatMoney(pct.Of(total), currency, lang)
		}
	}
	return data
}

// formatPercent writes a percentage for lang: "60%", "62.5%"; in French
// "60 %", "62,5 %" with a narrow no-break space, as CLDR does.
func formatPercent(p caisse.Percent, lang string) string {
	if lang == "fr" {
		return strings.Replace(p.String(), ".", ",", 1) + "\u202f%"
	}
	return p.String() + "%"
}

// frenchMonths are the months' names in French.
var frenchMonths = [...]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}

// formatDate writes a day for lang, in the time's own zone: "December 5,
// 2026"; in French "5 décembre 2026", "1er décembre 2026". "" for the zero
// time.
func formatDate(t time.Time, lang string) string {
	if t.IsZero() {
		return ""
	}
	if lang == "fr" {
		day := strconv.Itoa(t.Day())
		if t.Day() == 1 {
			day = "1er"
		}
		return day + " " + frenchMonths[t.Month()-1] + " " + strconv.Itoa(t.Year())
	}
	return t.Format("January 2, 2006")
}

// shopName is the shop's name as the notice gives it, else as configured.
func (s *Sender) shopName(n caisse.Notice) string {
	if n.ShopName != "" {
		return n.ShopName
	}
	if s.shop != "" {
		return s.shop
	}
	return "caisse"
}

// payloadAmount reads an amount from a payload value, which is an integer
// when the rules wrote it and a float64 or json.Number once it went through
// JSON.
func payloadAmount(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > caisse.MaxAmount {
			return 0, false
		}
		return int64(x), true
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// alertData gathers what a team alert says: the payload's title, text,
// fields and link, and for a grouped alert one row per alert.
func (s *Sender) alertData(n caisse.Notice, lang string) AlertData {
	p := n.Delivery.Payload
	data := AlertData{
		Shop:  s.shopName(n),
		Topic: n.Delivery.Topic,
		Count: n.Count(),
	}
	data.Title, _ = p["title"].(string)
	data.Text, _ = p["text"].(string)
	data.Link, _ = p["link"].(string)
	// A payload without a title has its topic's; a test message without
	// words, the root's for email.
	if n.Delivery.Topic == caisse.TopicTest {
		data.Title = cmp.Or(data.Title, caisse.AlertTestTitle(caisse.MediumEmail, lang))
		data.Text = cmp.Or(data.Text, caisse.AlertTestText(caisse.MediumEmail, data.Shop, lang))
	}
	data.Title = cmp.Or(data.Title, caisse.AlertTitle(n.Delivery.Topic, lang))
	data.Fields = alertFields(p["fields"])
	if data.Count > 1 {
		for _, d := range append([]caisse.Delivery{n.Delivery}, n.Group...) {
			if len(data.Rows) == maxRows {
				data.More++
				continue
			}
			summary, _ := d.Payload["text"].(string)
			if summary == "" {
				summary, _ = d.Payload["title"].(string)
			}
			data.Rows = append(data.Rows, AlertRow{OrderID: d.OrderID, ProductID: d.ProductID, Summary: brief(summary)})
		}
	}
	return data
}

// alertFields reads a payload's fields, label → value, sorted by label.
func alertFields(v any) []AlertField {
	var fields []AlertField
	switch m := v.(type) {
	case map[string]string:
		for k, v := range m {
			fields = append(fields, AlertField{Label: k, Value: v})
		}
	case map[string]any:
		for k, v := range m {
			value, ok := v.(string)
			if !ok {
				value = fmt.Sprint(v)
			}
			fields = append(fields, AlertField{Label: k, Value: value})
		}
	}
	slices.SortFunc(fields, func(a, b AlertField) int { return strings.Compare(a.Label, b.Label) })
	return fields
}

// brief shortens an alert's text to its first line, at most 100 characters.
func brief(text string) string {
	text, _, _ = strings.Cut(strings.TrimSpace(text), "\n")
	if utf8.RuneCountInString(text) <= 100 {
		return text
	}
	r := []rune(text)
	return strings.TrimSpace(string(r[:99])) + "…"
}

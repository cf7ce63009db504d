package smtp

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
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
		OrderID: o.ID,
	}
	if data.OrderID == "" {
		data.OrderID = n.Delivery.OrderID
	}
	for _, it := range o.Items {
		name := n.ItemNames[it.ProductID]
		if strings.TrimSpace(name) == "" {
			name = it.ProductID
		}
		data.Items = append(data.Items, ItemLine{Name: name, Quantity: it.Quantity})
	}
	if o.AmountPaid > 0 {
		data.AmountPaid = formatAmount(o.AmountPaid, o.Currency, lang)
	}
	if o.AmountRefunded > 0 {
		data.AmountRefunded = formatAmount(o.AmountRefunded, o.Currency, lang)
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
	case caisse.TopicOrderRefunded, caisse.TopicPartialRefund:
		data.Amount = data.AmountRefunded
	case caisse.TopicRefundApology:
		data.Reason, _ = p["reason"].(string)
		if amount, ok := payloadAmount(p["amount"]); ok && amount > 0 {
			currency, _ := p["currency"].(string)
			if currency == "" {
				currency = o.Currency
			}
			data.Amount = formatAmount(amount, currency, lang)
		} else {
			// The refund of a payment that did not match the order is not
			// in the order's amounts (it never paid it); an oversold
			// order's is.
			data.Amount = data.AmountRefunded
			if data.Amount == "" {
				data.Amount = data.AmountPaid
			}
		}
	}
	return data
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

// formatAmount writes an amount as caisse.FormatAmount does, with a decimal
// comma in French: 900,00 EUR.
func formatAmount(amount int64, currency, lang string) string {
	s := caisse.FormatAmount(amount, currency)
	if lang == "fr" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
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
	if data.Title == "" {
		data.Title = defaultTitle(n.Delivery.Topic, lang)
	}
	if data.Text == "" && n.Delivery.Topic == caisse.TopicTest {
		data.Text = testText[lang]
	}
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

// testText is what caisse notify test says.
var testText = map[string]string{
	"en": "This is a test message from caisse. If you can read it, caisse can send email to this address.",
	"fr": "Ceci est un message de test de caisse. Si vous le lisez, caisse sait envoyer des e-mails à cette adresse.",
}

// defaultTitle is an alert's title when its payload has none.
func defaultTitle(topic, lang string) string {
	if topic == caisse.TopicTest {
		if lang == "fr" {
			return "Message de test"
		}
		return "Test message"
	}
	return strings.ReplaceAll(topic, "_", " ")
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

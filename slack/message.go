package slack

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/caisse/caisse"
)

// Slack's limits on a message's parts (Block Kit reference). Longer texts
// are cut, rather than have Slack refuse the whole alert.
const (
	maxHeader       = 150
	maxSectionText  = 3000
	maxFieldText    = 2000
	maxFields       = 10 // per section
	maxFieldBlocks  = 3
	maxButtonText   = 75
	maxURL          = 3000
	maxFallbackText = 4000
	maxOrdersListed = 5
)

// message is the JSON an incoming webhook takes: text always (the
// notification, and all that receivers without blocks show), blocks for
// layout.
type message struct {
	Text   string  `json:"text"`
	Blocks []block `json:"blocks,omitempty"`
}

type block struct {
	Type     string    `json:"type"`
	Text     *text     `json:"text,omitempty"`
	Fields   []text    `json:"fields,omitempty"`
	Elements []element `json:"elements,omitempty"`
}

type text struct {
	Type string `json:"type"` // plain_text or mrkdwn
	Text string `json:"text"`
}

// element is a context block's text or an actions block's button.
type element struct {
	Type string `json:"type"`
	// Text is a string for a context's mrkdwn element, a *text for a button.
	Text any    `json:"text"`
	URL  string `json:"url,omitempty"`
}

// field is one label and value of an alert.
type field struct{ label, value string }

// alert is what an alert says, read from its delivery's payload.
type alert struct {
	title, text string
	fields      []field
	link        string
}

// fieldOrder puts the fields alerts usually carry first, in this order; the
// others follow by label.
var fieldOrder = []string{"Amount", "Reason", "Evidence due", "Order"}

// readAlert reads an alert from its delivery's payload: title and text
// (strings), fields (label → value) and link (a web address). A payload
// without a title has its topic's, and a test message without words the
// root's for a chat channel.
func readAlert(n caisse.Notice) alert {
	p := n.Delivery.Payload
	title, text := caisse.AlertTitle(n.Delivery.Topic, caisse.LangEnglish), ""
	if n.Delivery.Topic == caisse.TopicTest {
		title = caisse.AlertTestTitle(caisse.MediumChat, caisse.LangEnglish)
		text = caisse.AlertTestText(caisse.MediumChat, shopName(n), caisse.LangEnglish)
	}
	a := alert{
		title: cmp.Or(stringOf(p["title"]), title),
		text:  cmp.Or(stringOf(p["text"]), text),
		link:  webLink(stringOf(p["link"])),
	}
	fields, _ := p["fields"].(map[string]any)
	if ff, ok := p["fields"].(map[string]string); ok {
		// A payload built in memory rather than read back from JSON.
		fields = make(map[string]any, len(ff))
		for k, v := range ff {
			fields[k] = v
		}
	}
	if len(fields) > 0 {
		labels := slices.SortedFunc(maps.Keys(fields), func(a, b string) int {
			ia, ib := slices.Index(fieldOrder, a), slices.Index(fieldOrder, b)
			if ia < 0 {
				ia = len(fieldOrder)
			}
			if ib < 0 {
				ib = len(fieldOrder)
			}
			return cmp.Or(cmp.Compare(ia, ib), strings.Compare(a, b))
		})
		for _, label := range labels {
			if v := stringOf(fields[label]); v != "" && strings.TrimSpace(label) != "" {
				a.fields = append(a.fields, field{label, v})
			}
		}
	}
	if n.Delivery.OrderID != "" && n.Count() == 1 && !slices.ContainsFunc(a.fields, func(f field) bool { return f.label == "Order" }) {
		a.fields = append(a.fields, field{"Order", n.Delivery.OrderID})
	}
	return a
}

// newMessage lays out an alert. A grouped alert (several rows of one topic
// in one message) says how many, and lists a few of their orders instead of
// one row's fields and link.
func newMessage(n caisse.Notice) message {
	a := readAlert(n)
	title := a.title
	if n.Count() > 1 {
		title = fmt.Sprintf("%d × %s", n.Count(), a.title)
	}
	var blocks []block
	blocks = append(blocks, block{Type: "header", Text: &text{Type: "plain_text", Text: cut(oneLine(title), maxHeader)}})
	if a.text != "" {
		blocks = append(blocks, block{Type: "section", Text: &text{Type: "mrkdwn", Text: cut(escape(a.text), maxSectionText)}})
	}
	fallback := []string{escape(fmt.Sprintf("[%s] %s", shopName(n), title))}
	if a.text != "" {
		fallback = append(fallback, escape(a.text))
	}
	if n.Count() > 1 {
		if orders := ordersOf(n); orders != "" {
			blocks = append(blocks, block{Type: "section", Text: &text{Type: "mrkdwn", Text: cut("*Orders:* "+orders, maxSectionText)}})
			fallback = append(fallback, "Orders: "+orders)
		}
	} else {
		for i := 0; i < len(a.fields) && i < maxFields*maxFieldBlocks; i += maxFields {
			b := block{Type: "section"}
			for _, f := range a.fields[i:min(i+maxFields, len(a.fields))] {
				b.Fields = append(b.Fields, text{Type: "mrkdwn", Text: cut("*"+escape(oneLine(f.label))+"*\n"+escape(f.value), maxFieldText)})
			}
			blocks = append(blocks, b)
		}
		for _, f := range a.fields {
			fallback = append(fallback, escape(oneLine(f.label)+": "+f.value))
		}
		if a.link != "" {
			blocks = append(blocks, block{Type: "actions", Elements: []element{{
				Type: "button",
				Text: &text{Type: "plain_text", Text: cut(linkLabel(a.link), maxButtonText)},
				URL:  a.link,
			}}})
			fallback = append(fallback, escape(a.link))
		}
	}
	blocks = append(blocks, block{Type: "context", Elements: []element{{
		Type: "mrkdwn",
		Text: cut(escape(shopName(n))+" · caisse", maxSectionText),
	}}})
	return message{Text: cut(strings.Join(fallback, "\n"), maxFallbackText), Blocks: blocks}
}

// ordersOf lists the grouped rows' orders: a few, then how many more.
func ordersOf(n caisse.Notice) string {
	var ids []string
	for _, d := range append([]caisse.Delivery{n.Delivery}, n.Group...) {
		if d.OrderID != "" && !slices.Contains(ids, d.OrderID) {
			ids = append(ids, d.OrderID)
		}
	}
	if len(ids) == 0 {
		return ""
	}
	shown := make([]string, 0, maxOrdersListed)
	for _, id := range ids[:min(len(ids), maxOrdersListed)] {
		shown = append(shown, escape(oneLine(id)))
	}
	s := strings.Join(shown, ", ")
	if more := len(ids) - len(shown); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

func shopName(n caisse.Notice) string { return cmp.Or(strings.TrimSpace(n.ShopName), "caisse") }

// stringOf returns a payload value as text: a string as it is, a number or a
// boolean written out, anything else (nested objects) as nothing.
func stringOf(v any) string {
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// webLink returns s if it is a web address Slack takes for a button, else "".
func webLink(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(s) > maxURL {
		return ""
	}
	return s
}

func linkLabel(link string) string {
	if u, err := url.Parse(link); err == nil && (u.Hostname() == "dashboard.stripe.com" || strings.HasSuffix(u.Hostname(), ".stripe.com")) {
		return "Open in Stripe"
	}
	return "Open"
}

// escape makes text safe in Slack's mrkdwn: &, < and > are its control
// characters, so an order id or a dispute reason can neither break the
// layout nor notify @channel.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cut shortens s to at most n characters, marking the cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

package caisse

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// alertCases composes an alert of each topic from sample facts, through
// every branch of its constructor. A topic missing here fails
// TestEveryAlertTopicHasWords.
func alertCases() map[string][]Alert {
	o := AlertOrder{ID: "ord_1", Currency: "eur", Paid: 1500, Due: 2500, Livemode: true}
	d := Dispute{ID: "dp_1", Status: "lost", Amount: 1500, Reason: "fraudulent", EvidenceDueBy: 1742558400}
	m := Mismatch{ID: "cs_2", PaymentIntent: "pi_2", Amount: 500, Currency: "eur"}
	w := FraudWarning{ID: "issfr_1", FraudType: "made_with_stolen_card", Charge: "ch_1"}
	lines := []Line{{ProductID: "print-9", Quantity: 2, Name: "Print", UnitAmount: 750}}
	ev := &Event{ID: "evt_1", Type: "charge.refunded", OrderID: "ord_1", Attempts: 7}
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	ep := WebhookEndpoint{ID: "we_1", URL: "https://shop.example/webhooks/stripe"}
	email := &Delivery{ID: "dlv_1", Channel: ChannelEmail, Topic: TopicRefundApology, Recipient: "payer@example.com", OrderID: "ord_1"}
	hook := &Delivery{ID: "dlv_2", Channel: ChannelWebhook, Topic: HookOrderPaid, Recipient: "https://hooks.example/caisse"}
	return map[string][]Alert{
		TopicDisputeOpened:     {DisputeOpenedAlert(o, d), DisputeOpenedAlert(o, Dispute{})},
		TopicDisputeClosed:     {DisputeClosedAlert(o, d), DisputeClosedAlert(o, Dispute{ID: "dp_1", Status: "won"}), DisputeClosedAlert(o, Dispute{})},
		TopicOversold:          {OversoldAlert(o, "pi_1", lines, nil, true), OversoldAlert(o, "pi_1", lines, []string{"print-9"}, false)},
		TopicPaymentMismatch:   {MismatchAlert(o, m, true), MismatchAlert(o, m, false)},
		TopicDeadLetter:        {DeadLetterAlert(ev, "amount_refunded is negative")},
		TopicSignatureFailures: {SignatureFailuresAlert(12, "no valid signature")},
		TopicSilence:           {SilenceAlert(6*time.Hour, at, time.Time{}, 3), SilenceAlert(6*time.Hour, at, at.Add(-time.Hour), 3)},
		TopicEndpointProblem: {EndpointAlert("missing", 2, WebhookEndpoint{}, nil), EndpointAlert("disabled", 1, ep, nil),
			EndpointAlert("missing_types", 1, ep, []string{"charge.refunded"}), EndpointAlert("", 0, WebhookEndpoint{}, nil)},
		TopicDeliveryFailed: {DeliveryFailedAlert(email, 4, "550 5.1.1 <payer@example.com>: no such user"),
			DeliveryFailedAlert(hook, 7, "410 Gone"), RefundFailedAlert("ord_1", "pi_1", "card expired"), RefundFailedAlert("ord_1", "", "no key")},
		TopicFraudWarning: {FraudWarningAlert(o, w, "pi_1", true), FraudWarningAlert(o, FraudWarning{Charge: "ch_1"}, "", false)},
		TopicPayoutFailed: {PayoutFailedAlert(Payout{ID: "po_1", Amount: 12000, Currency: "eur", ArrivalDate: 1742558400,
			Status: "failed", FailureCode: "account_closed", FailureMessage: "The bank account has been closed."}),
			PayoutFailedAlert(Payout{ID: "po_2", Amount: 500, Currency: "eur"})},
		TopicTest: {TestAlert("Lune")},
	}
}

// TestEveryAlertTopicHasWords walks every topic an alert is sent with in
// caisse's code (the constants of the root's "Topics of team alerts", and
// every topic passed to AlertMessage anywhere): each is in AlertTopics, has
// a title in English and in French, and a constructor whose alerts have a
// title and a text.
func TestEveryAlertTopicHasWords(t *testing.T) {
	t.Parallel()
	declared, used := alertTopicsInCode(t)
	for _, topic := range declared {
		if !slices.Contains(AlertTopics, topic) {
			t.Errorf("topic %q is declared among the topics of team alerts but is not in AlertTopics", topic)
		}
	}
	for _, topic := range used {
		if !slices.Contains(AlertTopics, topic) {
			t.Errorf("topic %q is sent as an alert but is not in AlertTopics", topic)
		}
	}
	cases := alertCases()
	for _, topic := range AlertTopics {
		en, fr := alertTitles[topic][LangEnglish], alertTitles[topic][LangFrench]
		if en == "" || fr == "" || en == fr {
			t.Errorf("topic %q: titles %q (en) and %q (fr), want one in each language", topic, en, fr)
		}
		if AlertTitle(topic, "fr-FR") != fr || AlertTitle(topic, "de") != en {
			t.Errorf("topic %q: AlertTitle does not read the language", topic)
		}
		if len(cases[topic]) == 0 {
			t.Errorf("topic %q has no constructor in alertCases", topic)
		}
		for i, a := range cases[topic] {
			if strings.TrimSpace(a.Title) == "" || strings.TrimSpace(a.Text) == "" {
				t.Errorf("topic %q, case %d: title %q, text %q: want both", topic, i, a.Title, a.Text)
			}
			p := a.Payload()
			if p["title"] != a.Title || p["text"] != a.Text {
				t.Errorf("topic %q, case %d: payload %v", topic, i, p)
			}
		}
	}
	for _, m := range []AlertMedium{MediumChat, MediumEmail} {
		for _, lang := range []string{LangEnglish, LangFrench} {
			if AlertTestTitle(m, lang) == "" || !strings.Contains(AlertTestText(m, "Lune", lang), "caisse") && !strings.Contains(AlertTestText(m, "Lune", lang), "Lune") {
				t.Errorf("medium %s, %s: test title %q, text %q", m, lang, AlertTestTitle(m, lang), AlertTestText(m, "Lune", lang))
			}
		}
	}
}

// alertTopicsInCode reads caisse's source: the constants declared under
// "Topics of team alerts", and the topics passed to AlertMessage outside
// tests (by name, resolved from the root's Topic constants).
func alertTopicsInCode(t *testing.T) (declared, used []string) {
	t.Helper()
	fset := token.NewFileSet()
	consts := map[string]string{} // Topic… → its value
	root, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range root {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			alerts := g.Doc != nil && strings.HasPrefix(g.Doc.Text(), "Topics of team alerts")
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Topic") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					consts[name.Name] = v
					if alerts {
						declared = append(declared, v)
					}
				}
			}
		}
	}
	if len(declared) == 0 {
		t.Fatal(`no constant found under "Topics of team alerts"`)
	}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) < 2 {
				return true
			}
			var fn, arg string
			switch f := call.Fun.(type) {
			case *ast.Ident:
				fn = f.Name
			case *ast.SelectorExpr:
				fn = f.Sel.Name
			}
			if fn != "AlertMessage" {
				return true
			}
			switch a := call.Args[1].(type) {
			case *ast.Ident:
				arg = a.Name
			case *ast.SelectorExpr:
				arg = a.Sel.Name
			}
			if v, ok := consts[arg]; ok {
				used = append(used, v)
			} else {
				t.Errorf("%s: AlertMessage is called with topic %s, not one of the root's Topic constants", fset.Position(call.Pos()), arg)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(used) == 0 {
		t.Fatal("no call of AlertMessage found")
	}
	return declared, used
}

// The wording of each alert, as the team reads it.
func TestAlertWords(t *testing.T) {
	t.Parallel()
	o := AlertOrder{ID: "ord_1", Currency: "eur", Paid: 1500, Due: 2500}
	for _, c := range []struct {
		name string
		got  Alert
		want Alert
	}{
		{"dispute opened", DisputeOpenedAlert(o, Dispute{ID: "dp_1", Amount: 1500, Reason: "fraudulent", EvidenceDueBy: 1742558400}), Alert{
			Title:  "Dispute opened",
			Text:   "A customer disputed the payment of order ord_1 (€15.00). Answer in Stripe's Dashboard before the evidence is due, or the dispute is lost.",
			Fields: map[string]string{"Order": "ord_1", "Amount": "€15.00", "Reason": "fraudulent", "Evidence due": "2025-03-21 12:00 UTC"},
			Link:   "https://dashboard.stripe.com/test/disputes/dp_1",
		}},
		{"dispute lost", DisputeClosedAlert(o, Dispute{ID: "dp_1", Status: "lost", Amount: 1500}), Alert{
			Title:  "Dispute lost",
			Text:   "The dispute on order ord_1 is closed: " + DisputeWords("lost", LangEnglish) + ". The amount is taken back by the bank; the order is marked dispute lost.",
			Fields: map[string]string{"Order": "ord_1", "Amount": "€15.00", "Outcome": DisputeWords("lost", LangEnglish)},
			Link:   "https://dashboard.stripe.com/test/disputes/dp_1",
		}},
		{"oversold, refunded", OversoldAlert(o, "pi_1", []Line{{ProductID: "p", Quantity: 1, Name: "Print", UnitAmount: 1500}}, nil, true), Alert{
			Title:  "An order was paid, but no stock was left for it (oversold)",
			Text:   "Order ord_1 was paid but no stock was left for it: caisse is refunding the payment.",
			Fields: map[string]string{"Order": "ord_1", "Items": "1 × Print (€15.00 each)", "Paid": "€15.00"},
			Link:   "https://dashboard.stripe.com/test/payments/pi_1",
		}},
		{"mismatch, flagged", MismatchAlert(o, Mismatch{ID: "cs_2", Amount: 500, Currency: "eur"}, false), Alert{
			Title:  "A payment does not pay its order (payment mismatch)",
			Text:   "A payment of €5.00 (cs_2) was taken for order ord_1, which is due €25.00: it does not pay the order; refund it, or settle the order with the buyer.",
			Fields: map[string]string{"Order": "ord_1", "Paid": "€5.00", "Due": "€25.00", "Payment": "cs_2"},
			Link:   "https://dashboard.stripe.com/test/checkout/sessions/cs_2",
		}},
		{"fraud, refunded", FraudWarningAlert(o, FraudWarning{ID: "issfr_1", FraudType: "made_with_stolen_card", Charge: "ch_1"}, "pi_1", true), Alert{
			Title: "Early fraud warning on an order's payment",
			Text: "The card issuer warns that the payment of order ord_1 (€15.00) is likely fraud (made_with_stolen_card). " +
				"caisse is refunding it before it becomes a dispute; do not ship the order.",
			Fields: map[string]string{"Order": "ord_1", "Amount": "€15.00", "Fraud type": "made_with_stolen_card"},
			Link:   "https://dashboard.stripe.com/test/payments/pi_1",
		}},
		{"webhook delivery", DeliveryFailedAlert(&Delivery{ID: "dlv_2", Channel: ChannelWebhook, Topic: HookOrderPaid, Recipient: "https://hooks.example/c"}, 7, "410 Gone"), Alert{
			Title:  "A webhook delivery failed for good",
			Text:   "caisse could not deliver dlv_2 (order.paid) to https://hooks.example/c: 410 Gone. Fix the cause, then retry it: caisse outbox retry dlv_2.",
			Fields: map[string]string{"Delivery": "dlv_2", "Channel": "webhook", "Topic": "order.paid", "To": "https://hooks.example/c", "Attempts": "7"},
		}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", c.name, c.got, c.want)
		}
	}
}

// An alert never carries who bought: AlertOrder has no field for it, and a
// failed customer email names neither the address nor quotes it.
func TestAlertsNameNoBuyer(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[AlertOrder]()
	for i := range typ.NumField() {
		name := strings.ToLower(typ.Field(i).Name)
		for _, pii := range []string{"customer", "email", "name", "phone", "address", "shipping", "billing"} {
			if strings.Contains(name, pii) {
				t.Errorf("AlertOrder has a field %s: an alert must not say who bought", typ.Field(i).Name)
			}
		}
	}
	for _, d := range []*Delivery{
		{ID: "dlv_1", Channel: ChannelEmail, Topic: TopicRefundApology, Recipient: "payer@example.com", OrderID: "ord_1"},
		{ID: "dlv_2", Channel: ChannelEmail, Topic: TopicOrderConfirmation, OrderID: "ord_1"},
	} {
		a := DeliveryFailedAlert(d, 1, `550 5.1.1 <buyer@example.com>: Recipient address rejected; "Ann Buyer" ann@example.org`)
		all := a.Title + a.Text + strings.Join(slices.Collect(maps.Values(a.Fields)), " ")
		if strings.Contains(all, "@") {
			t.Errorf("delivery %s: the alert names an address: %#v", d.ID, a)
		}
		if a.Fields["To"] != "the customer" {
			t.Errorf("delivery %s: To = %q, want the customer", d.ID, a.Fields["To"])
		}
	}
}

func TestWithoutAddresses(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                             "",
		"410 Gone":                     "410 Gone",
		"550 <a@b.example>: rejected":  "550 <[address]>: rejected",
		"to ann@example.org, bob@x.io": "to [address], [address]",
		"  spaces  kept @ ":            "  spaces  kept [address] ",
	} {
		if got := withoutAddresses(in); got != want {
			t.Errorf("withoutAddresses(%q) = %q, want %q", in, got, want)
		}
	}
}

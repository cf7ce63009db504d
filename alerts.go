package caisse

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// What a team alert says, for every cause: its title, the sentence that says
// what happened and what to do, the facts beside it and where to look. The
// channels (slack, smtp) only lay out what is composed here.
//
// An alert never carries who bought: no buyer's name, address, phone or
// email. The constructors are given only what they may say (an AlertOrder
// holds no customer), so a new cause cannot read it by mistake.

// Alert is a message to the shop's team: a title, a sentence that says what
// happened and what to do, facts to show beside it, and where to look.
type Alert struct {
	Title  string
	Text   string
	Fields map[string]string
	Link   string
}

// Payload returns the alert as an outbox payload.
func (a Alert) Payload() map[string]any {
	p := map[string]any{"title": a.Title, "text": a.Text}
	if len(a.Fields) > 0 {
		p["fields"] = a.Fields
	}
	if a.Link != "" {
		p["link"] = a.Link
	}
	return p
}

// AlertMessage returns the outbox message of a team alert. key makes it
// unique (one alert per cause).
func AlertMessage(key, topic, orderID string, a Alert) OutboxMessage {
	return OutboxMessage{Key: "alert:" + topic + ":" + key, Channel: ChannelAlert, Topic: topic, OrderID: orderID, Payload: a.Payload()}
}

// AlertTopics lists the topics of team alerts, each with a title in every
// language (see AlertTitle).
var AlertTopics = []string{
	TopicDisputeOpened, TopicDisputeClosed, TopicOversold, TopicPaymentMismatch, TopicDeadLetter, TopicSignatureFailures,
	TopicSilence, TopicEndpointProblem, TopicDeliveryFailed, TopicFraudWarning, TopicPayoutFailed, TopicTest,
}

// alertTitles are the titles of each alert topic, by language: what a
// channel shows for an alert whose payload has no title of its own, and the
// title of a group of alerts of one topic.
var alertTitles = map[string]map[string]string{
	TopicDisputeOpened:     {LangEnglish: "Dispute opened", LangFrench: "Litige ouvert"},
	TopicDisputeClosed:     {LangEnglish: "Dispute closed", LangFrench: "Litige clos"},
	TopicOversold:          {LangEnglish: "Order oversold", LangFrench: "Commande survendue"},
	TopicPaymentMismatch:   {LangEnglish: "Payment does not match its order", LangFrench: "Paiement non conforme à sa commande"},
	TopicDeadLetter:        {LangEnglish: "A Stripe event could not be applied", LangFrench: "Un événement Stripe n’a pas pu être appliqué"},
	TopicSignatureFailures: {LangEnglish: "Webhook signatures are failing", LangFrench: "Les signatures des webhooks échouent"},
	TopicSilence:           {LangEnglish: "No events from Stripe", LangFrench: "Aucun événement de Stripe"},
	TopicEndpointProblem:   {LangEnglish: "Stripe webhook endpoint problem", LangFrench: "Problème d’endpoint de webhook Stripe"},
	TopicDeliveryFailed:    {LangEnglish: "A delivery failed for good", LangFrench: "Un envoi a échoué pour de bon"},
	TopicFraudWarning:      {LangEnglish: "Early fraud warning", LangFrench: "Alerte précoce de fraude"},
	TopicPayoutFailed:      {LangEnglish: "A payout failed", LangFrench: "Un virement a échoué"},
	TopicTest:              {LangEnglish: "Test message", LangFrench: "Message de test"},
}

// AlertTitle returns the title of an alert of topic in lang (English for a
// language caisse has no words in), for an alert whose payload has none.
// A topic that is not an alert's is written out as it is.
func AlertTitle(topic, lang string) string {
	lang = cmpOr(Language(lang), LangEnglish)
	if t, ok := alertTitles[topic]; ok {
		return t[lang]
	}
	if topic != "" {
		return strings.ReplaceAll(topic, "_", " ")
	}
	if lang == LangFrench {
		return "Alerte"
	}
	return "Alert"
}

// AlertMedium is where a team alert is read; a test message names it, to
// say what works.
type AlertMedium string

// Where team alerts are read.
const (
	MediumChat  AlertMedium = "chat"  // a Slack-compatible incoming webhook
	MediumEmail AlertMedium = "email" // the team's email addresses
)

// AlertTestTitle is the title of a test message read in medium, in lang,
// when its payload has none.
func AlertTestTitle(medium AlertMedium, lang string) string {
	if medium == MediumChat {
		if Language(lang) == LangFrench {
			return "Alerte de test de caisse"
		}
		return "Test alert from caisse"
	}
	return AlertTitle(TopicTest, lang)
}

// AlertTestText is what a test message read in medium says of the shop, in
// lang, when its payload says nothing.
func AlertTestText(medium AlertMedium, shop, lang string) string {
	fr := Language(lang) == LangFrench
	if medium == MediumChat {
		if fr {
			return fmt.Sprintf("Si vous lisez ceci, les alertes de l’équipe de %s arrivent sur ce canal.", shop)
		}
		return fmt.Sprintf("If you can read this, the team alerts of %s reach this channel.", shop)
	}
	if fr {
		return "Ceci est un message de test de caisse. Si vous le lisez, caisse sait envoyer des e-mails à cette adresse."
	}
	return "This is a test message from caisse. If you can read it, caisse can send email to this address."
}

// TestAlert is what `caisse notify test` sends on each channel (topic
// TopicTest).
func TestAlert(shop string) Alert {
	return Alert{Title: "Test message from " + shop, Text: "caisse notify test: if you read this, this channel works."}
}

// AlertOrder is what a team alert may say of an order: its id, its money
// and its mode, never who bought it.
type AlertOrder struct {
	ID       string
	Currency string
	// Paid is what was paid for it and Due what it costs, in the
	// currency's smallest unit.
	Paid, Due int64
	// Livemode says which of Stripe's Dashboards the alert's link opens.
	Livemode bool
}

// alertOrder is what an alert may say of the order summed up in s.
func (s Summary) alertOrder(id string) AlertOrder {
	return AlertOrder{ID: id, Currency: s.Currency, Paid: s.AmountPaid, Due: s.AmountDue, Livemode: s.Livemode}
}

// alertOrder is what an alert may say of the order o.
func (o *OrderRecord) alertOrder() AlertOrder {
	return AlertOrder{ID: o.ID, Currency: o.Currency, Paid: o.AmountPaid, Due: o.AmountDue, Livemode: o.Livemode}
}

// dispute is the order's dispute, empty when it has none.
func (o *OrderRecord) dispute() Dispute {
	if o.Dispute == nil {
		return Dispute{}
	}
	return *o.Dispute
}

func (o AlertOrder) money(amount int64) string { return FormatMoney(amount, o.Currency, LangEnglish) }

// DisputeOpenedAlert says a customer disputed the order's payment (topic
// TopicDisputeOpened): the amount, the bank's reason, when evidence is due.
func DisputeOpenedAlert(o AlertOrder, d Dispute) Alert {
	fields := disputeFields(o, d)
	text := fmt.Sprintf("A customer disputed the payment of order %s (%s). Answer in Stripe's Dashboard before the evidence is due, or the dispute is lost.",
		o.ID, o.money(d.Amount))
	if d.EvidenceDueBy > 0 {
		fields["Evidence due"] = time.Unix(d.EvidenceDueBy, 0).UTC().Format("2006-01-02 15:04 MST")
	}
	return Alert{Title: "Dispute opened", Text: text, Fields: fields, Link: DashboardURL(d.ID, o.Livemode)}
}

// DisputeClosedAlert says how the dispute on the order ended (topic
// TopicDisputeClosed).
func DisputeClosedAlert(o AlertOrder, d Dispute) Alert {
	fields := disputeFields(o, d)
	status := cmpOr(d.Status, "closed")
	fields["Outcome"] = DisputeWords(status, LangEnglish)
	text := fmt.Sprintf("The dispute on order %s is closed: %s.", o.ID, DisputeWords(status, LangEnglish))
	if d.Status == "lost" {
		text += " The amount is taken back by the bank; the order is marked dispute lost."
	}
	return Alert{Title: "Dispute " + status, Text: text, Fields: fields, Link: DashboardURL(d.ID, o.Livemode)}
}

func disputeFields(o AlertOrder, d Dispute) map[string]string {
	fields := map[string]string{"Order": o.ID, "Amount": o.money(d.Amount)}
	if d.Reason != "" {
		fields["Reason"] = d.Reason
	}
	return fields
}

// OversoldAlert says the order was paid with no stock left for it (topic
// TopicOversold): its lines, what was paid, and whether caisse refunds the
// payment (refunding) or the team must refund or restock.
func OversoldAlert(o AlertOrder, payment string, lines []Line, unknown []string, refunding bool) Alert {
	text := fmt.Sprintf("Order %s was paid but no stock was left for it: refund or restock.", o.ID)
	if refunding {
		text = fmt.Sprintf("Order %s was paid but no stock was left for it: caisse is refunding the payment.", o.ID)
	}
	return Alert{Title: "An order was paid, but no stock was left for it (oversold)", Text: text,
		Fields: map[string]string{"Order": o.ID, "Items": DescribeLines(lines, unknown, o.Currency, LangEnglish), "Paid": o.money(o.Paid)},
		Link:   DashboardURL(payment, o.Livemode)}
}

// MismatchAlert says a payment taken for the order does not pay it (topic
// TopicPaymentMismatch), and whether caisse refunds it (refunding).
func MismatchAlert(o AlertOrder, m Mismatch, refunding bool) Alert {
	paid := FormatMoney(m.Amount, m.Currency, LangEnglish)
	text := fmt.Sprintf("A payment of %s (%s) was taken for order %s, which is due %s: it does not pay the order", paid, m.ID, o.ID, o.money(o.Due))
	if refunding {
		text += "; caisse is refunding it."
	} else {
		text += "; refund it, or settle the order with the buyer."
	}
	return Alert{Title: "A payment does not pay its order (payment mismatch)", Text: text,
		Fields: map[string]string{"Order": o.ID, "Paid": paid, "Due": o.money(o.Due), "Payment": m.ID},
		Link:   DashboardURL(cmpOr(m.PaymentIntent, m.ID), o.Livemode)}
}

// FraudWarningAlert says a card issuer warned of fraud on the order's
// payment (topic TopicFraudWarning): the amount and what the issuer
// reported, and whether caisse refunds the payment (refunding). payment is
// the payment warned of, when known.
func FraudWarningAlert(o AlertOrder, w FraudWarning, payment string, refunding bool) Alert {
	text := fmt.Sprintf("The card issuer warns that the payment of order %s (%s) is likely fraud (%s). ", o.ID, o.money(o.Paid), cmpOr(w.FraudType, "fraud"))
	if refunding {
		text += "caisse is refunding it before it becomes a dispute; do not ship the order."
	} else {
		text += "Refund it before it becomes a dispute, or check the order before you ship it."
	}
	return Alert{Title: "Early fraud warning on an order's payment", Text: text,
		Fields: map[string]string{"Order": o.ID, "Amount": o.money(o.Paid), "Fraud type": cmpOr(w.FraudType, "unknown")},
		Link:   DashboardURL(cmpOr(payment, w.Charge), o.Livemode)}
}

// DeadLetterAlert says an event failed for good and how to replay it (topic
// TopicDeadLetter). It names the event itself: an event that could not even
// be read was never marked.
func DeadLetterAlert(ev *Event, reason string) Alert {
	fields := map[string]string{"Event": ev.ID, "Type": ev.Type, "Attempts": strconv.Itoa(ev.Attempts)}
	if ev.OrderID != "" {
		fields["Order"] = ev.OrderID
	}
	return Alert{Title: "An event failed for good",
		Text: "caisse could not apply " + ev.Type + " event " + ev.ID + ": " + reason +
			". Fix the cause, then replay it: caisse events replay " + ev.ID + " (or replay every dead letter with --failed).",
		Fields: fields, Link: DashboardURL(ev.ID, ev.Livemode)}
}

// SignatureFailuresAlert says caisse refused refused webhook deliveries in
// the last minute for bad signatures, the last for reason (topic
// TopicSignatureFailures).
func SignatureFailuresAlert(refused int, reason string) Alert {
	return Alert{Title: "Stripe webhooks are being refused: bad signatures",
		Text: fmt.Sprintf("caisse refused %d webhook deliveries in the last minute because their signature did not verify (%s). "+
			"Check STRIPE_WEBHOOK_SECRET: it must be the signing secret of the webhook endpoint pointing at caisse "+
			"(Stripe Dashboard → Developers → Webhooks). Until then, Stripe retries and events are late.", refused, reason),
		Fields: map[string]string{"Refused in a minute": strconv.Itoa(refused), "Last reason": reason}}
}

// SilenceAlert says no event came from Stripe for silence (the last at
// last, zero for never) while checkouts were opened since since (topic
// TopicSilence).
func SilenceAlert(silence time.Duration, since, last time.Time, checkouts int64) Alert {
	lastText := "never"
	if !last.IsZero() {
		lastText = last.Format(time.RFC3339)
	}
	return Alert{Title: "No Stripe event for " + silence.String() + " while checkouts are opened",
		Text: fmt.Sprintf("caisse opened %d checkouts since %s but has received no event from Stripe since %s: buyers may be paying "+
			"without caisse hearing of it. Check that the Stripe webhook endpoint points at caisse and is enabled, and that caisse is reachable.",
			checkouts, since.Format(time.RFC3339), lastText),
		Fields: map[string]string{"Last event": lastText, "Checkouts since": strconv.FormatInt(checkouts, 10)}}
}

// EndpointAlert says what is wrong with the Stripe webhook endpoint (topic
// TopicEndpointProblem): problem is "missing" (none of the account's
// endpoints points at caisse), "disabled" (ours, the endpoint, is) or
// "missing_types" (it does not send the types in missing). endpoints is how
// many the account has.
func EndpointAlert(problem string, endpoints int, ours WebhookEndpoint, missing []string) Alert {
	a := Alert{Title: AlertTitle(TopicEndpointProblem, LangEnglish), Text: "Check caisse's webhook endpoint in the Stripe Dashboard (Developers → Webhooks).",
		Fields: map[string]string{"Endpoints": strconv.Itoa(endpoints)}}
	switch problem {
	case "missing":
		a.Title = "No Stripe webhook endpoint points at caisse"
		a.Text = "None of the Stripe account's webhook endpoints has a URL ending in /webhooks/stripe: caisse hears of payments only by catching up. Add one in the Dashboard (Developers → Webhooks)."
	case "disabled":
		a.Title = "The Stripe webhook endpoint for caisse is disabled"
		a.Text = "Stripe sends nothing to " + ours.URL + ": enable the endpoint in the Dashboard (Developers → Webhooks). Stripe disables an endpoint that fails for days."
		a.Fields["Endpoint"] = ours.ID
	case "missing_types":
		a.Title = "The Stripe webhook endpoint for caisse does not send every event caisse needs"
		a.Text = "Add these event types to the endpoint in the Dashboard (Developers → Webhooks): " + strings.Join(missing, ", ") + "."
	}
	return a
}

// DeliveryFailedAlert says delivery d failed for good at its attempts-th
// attempt, for cause, and how to retry it (topic TopicDeliveryFailed). A
// customer's email is said to go to the customer: the alert never names
// their address.
func DeliveryFailedAlert(d *Delivery, attempts int, cause string) Alert {
	to := d.Recipient
	if d.Channel == ChannelEmail && CustomerTopic(d.Topic) {
		// The server's answer may quote the address it refused.
		to, cause = "the customer", withoutAddresses(cause)
	}
	fields := map[string]string{"Delivery": d.ID, "Channel": string(d.Channel), "Topic": d.Topic, "To": to,
		"Attempts": strconv.Itoa(attempts)}
	if d.OrderID != "" {
		fields["Order"] = d.OrderID
	}
	return Alert{Title: fmt.Sprintf("A %s delivery failed for good", d.Channel),
		Text: fmt.Sprintf("caisse could not deliver %s (%s) to %s: %s. Fix the cause, then retry it: caisse outbox retry %s.",
			d.ID, d.Topic, to, cause, d.ID),
		Fields: fields}
}

// RefundFailedAlert says a refund caisse was to make of the order's payment
// failed, for reason, and that the team must refund it by hand (topic
// TopicDeliveryFailed).
func RefundFailedAlert(orderID, paymentIntent, reason string) Alert {
	fields := map[string]string{"Order": orderID}
	if paymentIntent != "" {
		fields["Payment"] = paymentIntent
	}
	return Alert{Title: "A refund caisse was to make failed",
		Text:   "caisse could not refund a payment of order " + orderID + ": " + reason + ". Refund it in the Stripe Dashboard.",
		Fields: fields, Link: DashboardURL(cmpOr(paymentIntent, orderID), false)}
}

// ShipmentFailedAlert says Stripe did not take the carrier and tracking
// number of a shipped order, for reason: the team adds them to the payment
// in the Dashboard, where they are evidence if the buyer disputes "not
// received" (topic TopicDeliveryFailed).
func ShipmentFailedAlert(orderID, paymentIntent, reason string) Alert {
	return Alert{Title: "Stripe did not take an order's tracking",
		Text: "caisse could not give Stripe the carrier and tracking number of order " + orderID + ": " + withoutAddresses(reason) +
			". Add them to the payment in the Stripe Dashboard (Shipping), where they are evidence if the buyer disputes the delivery.",
		Fields: map[string]string{"Order": orderID, "Payment": paymentIntent}, Link: DashboardURL(paymentIntent, false)}
}

// PayoutFailedAlert says a payout of the shop's Stripe balance did not
// reach its bank, why, and what to do (topic TopicPayoutFailed). The money
// goes back to the Stripe balance; Stripe pays no more until the bank
// account is fixed.
func PayoutFailedAlert(p Payout) Alert {
	why := cmpOr(p.FailureMessage, cmpOr(p.FailureCode, "Stripe gave no reason"))
	fields := map[string]string{"Payout": p.ID, "Amount": FormatAmount(p.Amount, p.Currency)}
	if p.FailureCode != "" {
		fields["Reason"] = p.FailureCode
	}
	if p.ArrivalDate != 0 {
		fields["Expected"] = time.Unix(p.ArrivalDate, 0).UTC().Format("2006-01-02")
	}
	return Alert{Title: AlertTitle(TopicPayoutFailed, LangEnglish),
		Text: "Payout " + p.ID + " of " + FormatAmount(p.Amount, p.Currency) + " did not reach the bank: " + why +
			". The money is back in the Stripe balance; check the bank account in the Stripe Dashboard (Settings → Payouts).",
		Fields: fields, Link: DashboardURL(p.ID, p.Livemode)}
}

// withoutAddresses writes "[address]" for each email address in s: each run
// of characters that holds an "@" between spaces, brackets or quotes.
func withoutAddresses(s string) string {
	cut := func(r rune) bool { return strings.ContainsRune(" \t\r\n<>()[]\"',;:", r) }
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexFunc(s, func(r rune) bool { return !cut(r) })
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		j := strings.IndexFunc(s, cut)
		if j < 0 {
			j = len(s)
		}
		if strings.Contains(s[:j], "@") {
			b.WriteString("[address]")
		} else {
			b.WriteString(s[:j])
		}
		s = s[j:]
	}
	return b.String()
}

package stripe

import (
	"cmp"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/valyala/fastjson"

	"github.com/caisse/caisse"
)

// parsers are reused: a parser keeps its buffers, so reading an event
// allocates little besides the strings caisse keeps.
var parsers fastjson.ParserPool

// DecodeError says why a verified body is not an event caisse can store.
type DecodeError struct{ Detail string }

func (e *DecodeError) Error() string { return e.Detail }

// DecodeEvent reads a webhook body's envelope: id, type, created, livemode,
// api_version and the id of the object it is about. The body must be a
// snapshot event ("object":"event"); a thin (v2) event notification is refused.
//
// The body is parsed once: in the same pass, DecodeEvent reads the facts
// the applier needs (what Facts returns) into the event's Decoded, so the
// process that receives an event does not read its body again to apply it.
func DecodeEvent(payload []byte) (*caisse.Event, error) {
	// Validate first: the parser below is lazy about what it does not
	// read (a string's escapes, say), and a body that is not JSON is
	// refused whatever part of it is broken.
	if err := fastjson.ValidateBytes(payload); err != nil {
		return nil, &DecodeError{Detail: fmt.Sprintf("the body is not valid JSON: %v", err)}
	}
	p := parsers.Get()
	defer parsers.Put(p)
	root, err := p.ParseBytes(payload)
	if err != nil {
		return nil, &DecodeError{Detail: fmt.Sprintf("the body is not valid JSON: %v", err)}
	}
	if root.Type() != fastjson.TypeObject {
		return nil, &DecodeError{Detail: fmt.Sprintf("the body is not valid JSON: an event is a JSON object, not %s", root.Type())}
	}
	// A thin event's envelope differs (created is an RFC 3339 string, no
	// data): its object says what it is before any field's type is checked.
	env := envelopeReader{}
	object := env.str("object", root.Get("object"))
	if strings.HasPrefix(object, "v2.") {
		return nil, &DecodeError{Detail: "the body is a thin (v2) event notification; point a snapshot-event webhook endpoint at caisse"}
	}
	id, typ, apiVersion := env.str("id", root.Get("id")), env.str("type", root.Get("type")), env.str("api_version", root.Get("api_version"))
	created := env.int("created", root.Get("created"))
	livemode := root.Get("livemode")
	if livemode != nil && livemode.Type() != fastjson.TypeNull && livemode.Type() != fastjson.TypeTrue && livemode.Type() != fastjson.TypeFalse {
		env.wrongType("livemode", livemode, "bool")
	}
	if env.err != "" {
		return nil, &DecodeError{Detail: "the body is not valid JSON: " + env.err}
	}
	switch {
	case object != "event":
		return nil, &DecodeError{Detail: fmt.Sprintf("the body is not a Stripe event (object is %q, want \"event\")", object)}
	case !strings.HasPrefix(id, "evt_") || !printable(id, 255):
		return nil, &DecodeError{Detail: "the event has no valid id (evt_… with no spaces or control characters)"}
	case typ == "":
		return nil, &DecodeError{Detail: "the event has no type"}
	case !printable(typ, 255):
		return nil, &DecodeError{Detail: "the event's type is not an event type (spaces, control characters or over 255 characters)"}
	case apiVersion != "" && !printable(apiVersion, 64):
		return nil, &DecodeError{Detail: "the event's api_version is not an API version (spaces, control characters or over 64 characters)"}
	case livemode == nil || livemode.Type() == fastjson.TypeNull:
		return nil, &DecodeError{Detail: "the event has no livemode"}
	}
	obj := root.Get("data", "object")
	if obj == nil || obj.Type() != fastjson.TypeObject {
		return nil, &DecodeError{Detail: "the event has no data.object"}
	}
	objectID := env.str("id", obj.Get("id"))
	if env.err != "" {
		return nil, &DecodeError{Detail: "the event's data.object is not readable: data.object." + env.err}
	}
	if objectID != "" && !printable(objectID, 255) {
		return nil, &DecodeError{Detail: "the event's data.object.id is not a Stripe id (spaces, control characters or over 255 characters)"}
	}
	e := &caisse.Event{
		ID:         id,
		Type:       typ,
		Created:    created,
		Livemode:   livemode.Type() == fastjson.TypeTrue,
		APIVersion: apiVersion,
		ObjectID:   objectID,
		Payload:    payload,
		Status:     caisse.EventPending,
	}
	ef, err := facts(e, root)
	e.Decoded = &caisse.DecodedFacts{Facts: ef, Err: err}
	return e, nil
}

// envelopeReader reads the envelope's fields, keeping the first of the
// wrong type.
type envelopeReader struct{ err string }

func (r *envelopeReader) wrongType(name string, v *fastjson.Value, want string) {
	if r.err == "" {
		r.err = fmt.Sprintf("%s is a JSON %s, not a %s", name, v.Type(), want)
	}
}

func (r *envelopeReader) str(name string, v *fastjson.Value) string {
	if isNull(v) {
		return ""
	}
	b, err := v.StringBytes()
	if err != nil {
		r.wrongType(name, v, "string")
		return ""
	}
	return string(b)
}

func (r *envelopeReader) int(name string, v *fastjson.Value) int64 {
	if isNull(v) {
		return 0
	}
	n, err := v.Int64()
	if err != nil {
		r.wrongType(name, v, "whole number")
		return 0
	}
	return n
}

// field is one field of a Stripe object as received (nil when absent).
// caisse reads only the fields each event type needs, and reads them
// itself, so a field of an unexpected type that caisse does not use never
// fails an event.
type field = *fastjson.Value

// objectTypes is the Stripe object each handled event type carries.
var objectTypes = map[string]string{
	"checkout.session.": "checkout.session",
	"payment_intent.":   "payment_intent",
	"charge.dispute.":   "dispute",
	"charge.refunded":   "charge",
	"charge.succeeded":  "charge",
	// An early fraud warning: a card issuer reported a charge as fraud.
	"radar.early_fraud_warning.": "radar.early_fraud_warning",
	// A payout of the shop's balance to its bank.
	"payout.": "payout",
}

// objectType returns the object type an event type carries.
func objectType(eventType string) string {
	for prefix, obj := range objectTypes {
		if strings.HasPrefix(eventType, prefix) {
			return obj
		}
	}
	return ""
}

// Facts decodes what an event says about the objects it touches. Types caisse
// does not handle, and events of connected accounts, come back Ignored with a
// reason. A signed event whose numbers or object make no sense (a negative or
// huge amount, an object that is not what its type says) is refused with a
// *caisse.Error of code EINVALID: nothing of it may be applied, and trying
// again cannot help.
//
// An event DecodeEvent returned carries its facts already (Decoded), and
// Facts returns them; otherwise (an event read back from the database that
// this process did not receive) it reads them from the body.
func Facts(e *caisse.Event) (caisse.EventFacts, error) {
	if e.Decoded != nil {
		return e.Decoded.Facts, e.Decoded.Err
	}
	if !caisse.Handled(e.Type) {
		return caisse.EventFacts{Ignored: true, Reason: "caisse does not act on " + e.Type + " events"}, nil
	}
	p := parsers.Get()
	defer parsers.Put(p)
	root, err := p.ParseBytes(e.Payload)
	if err == nil {
		err = fastjson.ValidateBytes(e.Payload)
	}
	if err != nil {
		return caisse.EventFacts{}, refuse(e, "its body is not readable: %v", err)
	}
	return facts(e, root)
}

// facts is Facts on a body already parsed.
func facts(e *caisse.Event, root *fastjson.Value) (caisse.EventFacts, error) {
	if !caisse.Handled(e.Type) {
		return caisse.EventFacts{Ignored: true, Reason: "caisse does not act on " + e.Type + " events"}, nil
	}
	if root.Type() != fastjson.TypeObject {
		return caisse.EventFacts{}, refuse(e, "its body is not readable: it is a JSON %s, not an object", root.Type())
	}
	data := root.Get("data")
	if !isNull(data) && data.Type() != fastjson.TypeObject {
		return caisse.EventFacts{}, refuse(e, "its body is not readable: data is a JSON %s, not an object", data.Type())
	}
	o := &fastjson.Value{}
	if !isNull(data) {
		if v := data.Get("object"); !isNull(v) {
			if v.Type() != fastjson.TypeObject {
				return caisse.EventFacts{}, refuse(e, "its body is not readable: data.object is a JSON %s, not an object", v.Type())
			}
			o = v
		}
	}
	r := &reader{e: e}
	if account := root.Get("account"); !isNull(account) {
		b, err := account.StringBytes()
		if err != nil || (len(b) > 0 && !printable(string(b), 255)) {
			return caisse.EventFacts{}, refuse(e, "its account is not a Stripe account id")
		}
		if len(b) > 0 {
			return caisse.EventFacts{Ignored: true, Reason: "the event is from connected account " + string(b) +
				": caisse applies only the shop's own account's payments"}, nil
		}
	}
	want := objectType(e.Type)
	// An object without its "object" key (as some captured or hand-made
	// events have) is read as what its type carries; only one that says it
	// is something else is refused.
	if got := r.str("object", o.Get("object")); r.err == nil && got != "" && got != want {
		return caisse.EventFacts{}, refuse(e, "its data.object is a %q, not the %s a %s event carries", cut(got), want, e.Type)
	}
	f := caisse.Fact{ID: r.id("id", o.Get("id")), Livemode: e.Livemode, Created: r.lenientInt(o.Get("created"))}
	if r.err == nil && f.ID == "" {
		return caisse.EventFacts{}, refuse(e, "its data.object has no id")
	}
	if want == "payout" {
		p := r.payout(f.ID, o)
		if r.err != nil {
			return caisse.EventFacts{}, r.err
		}
		return caisse.EventFacts{Payout: &p, Balance: r.balance}, nil
	}
	f.Currency = r.currency("currency", o.Get("currency"))
	var refundsOf []string
	if want != "dispute" && want != "radar.early_fraud_warning" {
		// The Stripe customer the payment names (an id, or the object
		// expanded), read leniently: caisse only asks Stripe for its
		// email when no event brings an address.
		if id := r.lenientRef(o.Get("customer")); strings.HasPrefix(id, "cus_") {
			f.StripeCustomer = id
		}
	}
	switch want {
	case "checkout.session":
		f.Kind = caisse.KindSession
		md := r.metadata(o.Get("metadata"))
		f.OrderRef = r.orderRef("client_reference_id", r.str("client_reference_id", o.Get("client_reference_id")))
		if f.OrderRef == "" {
			f.OrderRef = r.orderRef("metadata.order_id", md["order_id"])
		}
		f.PaymentIntent = r.ref("payment_intent", o.Get("payment_intent"))
		f.Amount = r.amount("amount_total", o.Get("amount_total"))
		r.convert(&f, o.Get("currency_conversion"))
		f.CustomerEmail = r.email(o.Get("customer_email"))
		if details, ok := objectOrNull(o.Get("customer_details")); ok {
			if email := r.email(details.Get("email")); email != "" {
				f.CustomerEmail = email
			}
			f.CustomerName, f.CustomerPhone = r.name(details.Get("name")), r.phone(details.Get("phone"))
		}
		f.Items, f.UnknownItems = items(md)
		f.Locale = r.locale(o.Get("locale"))
		// Where it goes: collected_information.shipping_details from API
		// version 2025-03-31, shipping_details before it, shipping before
		// 2022-08-01.
		collected, _ := objectOrNull(o.Get("collected_information"))
		f.Shipping = cmp.Or(r.shipping(collected.Get("shipping_details")), r.shipping(o.Get("shipping_details")), r.shipping(o.Get("shipping")))
		if f.Shipping != nil && f.Shipping.Phone == "" {
			// Checkout collects one phone number, the customer's: the
			// carrier's number for the delivery.
			f.Shipping.Phone = f.CustomerPhone
		}
		if totals, ok := objectOrNull(o.Get("total_details")); ok {
			f.AmountShipping = r.amount("total_details.amount_shipping", totals.Get("amount_shipping"))
			f.AmountTax = r.amount("total_details.amount_tax", totals.Get("amount_tax"))
			f.AmountDiscount = r.amount("total_details.amount_discount", totals.Get("amount_discount"))
		}
		if cost, ok := objectOrNull(o.Get("shipping_cost")); ok && f.AmountShipping == 0 {
			f.AmountShipping = r.amount("shipping_cost.amount_total", cost.Get("amount_total"))
		}
		switch e.Type {
		case "checkout.session.completed":
			status := r.str("payment_status", o.Get("payment_status"))
			f.Completed = true
			f.SessionPaid = status == "paid" || status == "no_payment_required"
		case "checkout.session.async_payment_succeeded":
			f.Completed, f.AsyncSucceeded = true, true
		case "checkout.session.async_payment_failed":
			f.Completed, f.AsyncFailed = true, true
		case "checkout.session.expired":
			f.Expired = true
		}
	case "payment_intent":
		f.Kind = caisse.KindPaymentIntent
		md := r.metadata(o.Get("metadata"))
		f.OrderRef = r.orderRef("metadata.order_id", md["order_id"])
		f.Amount = r.amount("amount", o.Get("amount"))
		// The customer's address: the receipt's, else the billing details
		// of the card tried (a card can be declined before any session
		// completes).
		f.CustomerEmail = cmp.Or(r.email(o.Get("receipt_email")), r.billingEmail(o.Get("last_payment_error"), "payment_method"),
			r.billingEmail(o.Get("latest_charge"), ""), r.chargesEmail(o.Get("charges")))
		f.Items, f.UnknownItems = items(md)
		f.Shipping = r.shipping(o.Get("shipping"))
		switch e.Type {
		case "payment_intent.succeeded":
			f.Succeeded = true
			f.AmountReceived = r.amount("amount_received", o.Get("amount_received"))
			if f.AmountReceived == 0 {
				f.AmountReceived = f.Amount
			}
		case "payment_intent.payment_failed":
			f.PaymentError = "the payment failed"
			if lastError, ok := objectOrNull(o.Get("last_payment_error")); ok {
				if msg := r.lenientText(lastError.Get("message")); msg != "" {
					f.PaymentError = msg
				}
				// The bank's reason says most to the customer; Stripe's
				// code otherwise (expired_card, incorrect_cvc…).
				f.PaymentErrorCode = cmp.Or(r.word(lastError.Get("decline_code")), r.word(lastError.Get("code")))
			}
			f.PaymentErrorAt = e.Created
			f.FailedAttempts = []string{e.ID}
		}
	case "charge":
		f.Kind = caisse.KindCharge
		f.PaymentIntent = r.ref("payment_intent", o.Get("payment_intent"))
		f.Amount = r.amount("amount", o.Get("amount"))
		f.AmountRefunded = r.amount("amount_refunded", o.Get("amount_refunded"))
		// Who paid, as the card's billing details name them: the address
		// of a payment made outside Checkout, which may carry no other.
		if billing := o.Get("billing_details"); !isNull(billing) && billing.Type() == fastjson.TypeObject {
			f.CustomerEmail = r.email(billing.Get("email"))
			f.CustomerName, f.CustomerPhone = r.name(billing.Get("name")), r.phone(billing.Get("phone"))
		}
		f.CustomerEmail = cmp.Or(f.CustomerEmail, r.email(o.Get("receipt_email")))
		f.Shipping = r.shipping(o.Get("shipping"))
		// The money: the charge's balance transaction, and each listed
		// refund's (a list Stripe includes on API versions before
		// 2022-11-15; later ones are learnt from the payout's list).
		r.balanceTransaction("balance_transaction", o.Get("balance_transaction"), f.ID, f.ID)
		var listed int64
		complete := false
		if refunds, ok := objectOrNull(o.Get("refunds")); ok && !isNull(o.Get("refunds")) {
			for i, re := range r.array("refunds.data", refunds.Get("data")) {
				if re.Type() != fastjson.TypeObject {
					continue
				}
				id := r.id(fmt.Sprintf("refunds.data[%d].id", i), re.Get("id"))
				listed += r.lenientInt(re.Get("amount"))
				r.balanceTransaction(fmt.Sprintf("refunds.data[%d].balance_transaction", i), re.Get("balance_transaction"), id, f.ID)
			}
			more := refunds.Get("has_more")
			complete = (more == nil || more.Type() != fastjson.TypeTrue) && listed >= f.AmountRefunded
		}
		if f.AmountRefunded > 0 && !complete {
			refundsOf = append(refundsOf, f.ID)
		}
		// A charge that leaves its amount out (a captured or hand-made
		// shape) says only what was refunded; one that gives it cannot
		// have refunded more.
		if r.err == nil && !isNull(o.Get("amount")) && f.AmountRefunded > f.Amount {
			return caisse.EventFacts{}, refuse(e, "its charge %s has amount_refunded %d, more than its amount %d", f.ID, f.AmountRefunded, f.Amount)
		}
	case "dispute":
		f.Kind = caisse.KindDispute
		f.PaymentIntent = r.ref("payment_intent", o.Get("payment_intent"))
		f.Charge = r.ref("charge", o.Get("charge"))
		f.Amount = r.amount("amount", o.Get("amount"))
		f.DisputeReason = r.word(o.Get("reason"))
		if evidence, ok := objectOrNull(o.Get("evidence_details")); ok {
			f.EvidenceDueBy = r.lenientInt(evidence.Get("due_by"))
		}
		f.DisputeStatus = r.str("status", o.Get("status"))
		// A dispute carries its balance transactions expanded: the
		// withdrawal with its fee, and the reinstatement of one won.
		for i, t := range r.array("balance_transactions", o.Get("balance_transactions")) {
			r.balanceTransaction(fmt.Sprintf("balance_transactions[%d]", i), t, f.ID, f.Charge)
		}
		if f.DisputeStatus == "" {
			f.DisputeStatus = "needs_response"
		} else if r.err == nil && !printable(f.DisputeStatus, 64) {
			return caisse.EventFacts{}, refuse(e, "its dispute status is not a status")
		}
	case "radar.early_fraud_warning":
		f.Kind = caisse.KindFraudWarning
		f.Charge = r.ref("charge", o.Get("charge"))
		f.PaymentIntent = r.ref("payment_intent", o.Get("payment_intent"))
		// What the issuer reported, read leniently: a word caisse shows,
		// never relies on.
		f.FraudType = r.word(o.Get("fraud_type"))
	}
	if r.err != nil {
		return caisse.EventFacts{}, r.err
	}
	return caisse.EventFacts{Facts: []caisse.Fact{f}, Balance: r.balance, RefundsOf: refundsOf}, nil
}

// objectOrNull returns an object field as something to Get from: an
// object, or, for null or absent, an empty object (ok). Another type is
// not ok: the field is left unread, as a lenient read does.
func objectOrNull(v field) (*fastjson.Value, bool) {
	if isNull(v) {
		return &fastjson.Value{}, true
	}
	return v, v.Type() == fastjson.TypeObject
}

// refuse returns the error that makes a signed but senseless event a dead
// letter: what is wrong, and that nothing of it was applied.
func refuse(e *caisse.Event, format string, args ...any) error {
	return caisse.Errorf(caisse.EINVALID, "%s event %s makes no sense, so caisse applies nothing of it: %s; check where it came from (a replay of a forged or hand-made event?)",
		e.Type, e.ID, fmt.Sprintf(format, args...))
}

// reader reads an object's fields, keeping the first reason to refuse it.
type reader struct {
	e   *caisse.Event
	err error
	// balance are the balance transactions the object names.
	balance []caisse.BalanceTransaction
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = refuse(r.e, format, args...)
	}
}

func isNull(v field) bool {
	return v == nil || v.Type() == fastjson.TypeNull
}

// text returns a string field's value; ok is false for another type.
func text(v field) (string, bool) {
	b, err := v.StringBytes()
	if err != nil {
		return "", false
	}
	return string(b), true
}

// str reads a string field caisse relies on: null or absent is "", another
// type refuses the event.
func (r *reader) str(name string, v field) string {
	if isNull(v) {
		return ""
	}
	s, ok := text(v)
	if !ok {
		r.fail("data.object.%s is not a string", name)
		return ""
	}
	return s
}

// id reads an object id: printable, at most 255 characters.
func (r *reader) id(name string, v field) string {
	s := r.str(name, v)
	if s != "" && !printable(s, 255) {
		r.fail("data.object.%s is not a Stripe id (control characters, spaces, or over 255 characters)", name)
		return ""
	}
	return s
}

// ref reads an expandable field: an id, an object with an id, or null.
func (r *reader) ref(name string, v field) string {
	if v != nil && v.Type() == fastjson.TypeObject {
		return r.id(name+".id", v.Get("id"))
	}
	return r.id(name, v)
}

// whole reads a whole number of a currency's smallest unit, or null (0);
// another type fails the event (and reads 0).
func (r *reader) whole(name string, v field) int64 {
	if isNull(v) {
		return 0
	}
	n, err := v.Int64()
	if err != nil {
		r.fail("data.object.%s is %s, not a whole number of the currency's smallest unit", name, cut(string(v.MarshalTo(nil))))
		return 0
	}
	return n
}

// amount reads an amount in a currency's smallest unit: a whole number from
// 0 to caisse.MaxAmount, or null (0).
func (r *reader) amount(name string, v field) int64 {
	n := r.whole(name, v)
	if n < 0 || n > caisse.MaxAmount {
		r.fail("data.object.%s is %d: an amount must be from 0 to %d", name, n, int64(caisse.MaxAmount))
		return 0
	}
	return n
}

// currency reads a three-letter ISO currency code, lower-cased.
func (r *reader) currency(name string, v field) string {
	c := strings.ToLower(r.str(name, v))
	if c != "" && (len(c) != 3 || strings.Trim(c, "abcdefghijklmnopqrstuvwxyz") != "") {
		r.fail("data.object.%s is %q, not a three-letter currency code", name, cut(c))
		return ""
	}
	return c
}

// convert makes a session converted by Adaptive Pricing (its legacy
// currency_conversion) count in the shop's currency and amount.
func (r *reader) convert(f *caisse.Fact, v field) {
	if isNull(v) || v.Type() != fastjson.TypeObject {
		return
	}
	if source := r.currency("currency_conversion.source_currency", v.Get("source_currency")); source != "" {
		f.Currency = source
		f.Amount = r.amount("currency_conversion.amount_total", v.Get("amount_total"))
	}
}

// orderRef checks an order id named by the object: caisse stores it, so it
// must be printable text of at most 200 characters, as Stripe allows.
func (r *reader) orderRef(name, s string) string {
	if s != "" && !printable(s, 200) {
		r.fail("%s is not an order id (control characters, spaces, or over 200 characters)", name)
		return ""
	}
	return s
}

// metadata reads an object's metadata; values that are not strings are
// left out (Stripe's are always strings). Of a key given twice, the last
// counts.
func (r *reader) metadata(v field) map[string]string {
	if isNull(v) || v.Type() != fastjson.TypeObject {
		return nil
	}
	obj, _ := v.Object()
	md := make(map[string]string, obj.Len())
	obj.Visit(func(k []byte, val *fastjson.Value) {
		if s, ok := text(val); ok {
			md[string(k)] = s
		} else {
			delete(md, string(k))
		}
	})
	return md
}

// lenientText reads an informative string: another type, or control
// characters, count as nothing; it is kept to 500 characters.
func (r *reader) lenientText(v field) string {
	if isNull(v) {
		return ""
	}
	s, ok := text(v)
	if !ok {
		return ""
	}
	s = strings.Map(func(c rune) rune {
		if unicode.IsControl(c) {
			return ' '
		}
		return c
	}, strings.TrimSpace(s))
	if utf8.RuneCountInString(s) > 500 {
		s = string([]rune(s)[:500]) + "…"
	}
	return s
}

// name reads a person's name leniently, kept to 200 characters.
func (r *reader) name(v field) string {
	s := r.lenientText(v)
	if utf8.RuneCountInString(s) > 200 {
		s = string([]rune(s)[:200])
	}
	return s
}

// phone reads a phone number leniently: at most 40 characters of digits,
// spaces and + ( ) - . and nothing else.
func (r *reader) phone(v field) string {
	s := r.lenientText(v)
	if len(s) > 40 || strings.Trim(s, "0123456789 +()-.") != "" {
		return ""
	}
	return s
}

// shipping reads where an order goes ({name, phone, address}), leniently
// like the customer's details: a field that is not what it should be is
// left out, and nil is "nothing said".
func (r *reader) shipping(v field) *caisse.Shipping {
	if isNull(v) || v.Type() != fastjson.TypeObject {
		return nil
	}
	s := &caisse.Shipping{Name: r.name(v.Get("name")), Phone: r.phone(v.Get("phone"))}
	if a := v.Get("address"); !isNull(a) && a.Type() == fastjson.TypeObject {
		s.Address = caisse.Address{Line1: r.name(a.Get("line1")), Line2: r.name(a.Get("line2")),
			PostalCode: r.name(a.Get("postal_code")), City: r.name(a.Get("city")), State: r.name(a.Get("state")),
			Country: country(r.lenientText(a.Get("country")))}
	}
	if s.IsZero() {
		return nil
	}
	return s
}

// country returns an ISO 3166-1 alpha-2 code upper-cased, or "" for
// anything else.
func country(s string) string {
	s = strings.ToUpper(s)
	if len(s) != 2 || strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return ""
	}
	return s
}

// email reads an email address leniently: anything that is not one is none.
func (r *reader) email(v field) string {
	s := r.lenientText(v)
	if len(s) > 254 || !strings.Contains(s, "@") || strings.ContainsAny(s, " <>") {
		return ""
	}
	return s
}

// billingEmail reads billing_details.email of an object (or of its field
// named within, such as a payment error's payment_method), leniently.
func (r *reader) billingEmail(v field, within string) string {
	if within != "" {
		outer, ok := objectOrNull(v)
		if !ok {
			return ""
		}
		v = outer.Get(within)
	}
	if isNull(v) || v.Type() != fastjson.TypeObject {
		return ""
	}
	billing, ok := objectOrNull(v.Get("billing_details"))
	if !ok {
		return ""
	}
	return r.email(billing.Get("email"))
}

// chargesEmail reads the billing email of the first charge of a payment
// intent's charges list (older API versions).
func (r *reader) chargesEmail(v field) string {
	if isNull(v) || v.Type() != fastjson.TypeObject {
		return ""
	}
	list, err := v.Get("data").Array()
	if err != nil || len(list) == 0 {
		return ""
	}
	return r.billingEmail(list[0], "")
}

// locale reads a checkout session's locale (fr, en-GB, auto…), leniently.
func (r *reader) locale(v field) string {
	l := r.word(v)
	if l == "auto" {
		return ""
	}
	return l
}

// word reads a short code (a reason, a locale) leniently: anything but a
// short printable string counts as nothing.
func (r *reader) word(v field) string {
	s := r.lenientText(v)
	if !printable(s, 64) {
		return ""
	}
	return s
}

// lenientRef reads an expandable field caisse does not rely on: an id, or
// an object with an id; anything else is "".
func (r *reader) lenientRef(v field) string {
	if v != nil && v.Type() == fastjson.TypeObject {
		v = v.Get("id")
	}
	s := r.lenientText(v)
	if !printable(s, 255) {
		return ""
	}
	return s
}

// lenientInt reads a whole number caisse does not rely on: anything else is 0.
func (r *reader) lenientInt(v field) int64 {
	if isNull(v) {
		return 0
	}
	n, err := v.Int64()
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// printable reports whether s is 1 to max bytes of valid UTF-8 with no
// control characters or spaces.
func printable(s string, max int) bool {
	if s == "" || len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if unicode.IsControl(c) || unicode.IsSpace(c) {
			return false
		}
	}
	return true
}

// cut keeps a value quoted in a message short.
func cut(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// items reads the order's items from metadata; metadata that cannot be parsed
// is kept as text so the order can be flagged instead of dropped.
func items(md map[string]string) ([]caisse.Item, string) {
	it, err := caisse.ParseItems(md)
	if err != nil {
		return nil, err.Error()
	}
	return it, ""
}

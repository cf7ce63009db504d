package stripe

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/caisse/caisse"
)

// envelope is the part of an event caisse reads on receipt.
type envelope struct {
	ID         string `json:"id"`
	Object     string `json:"object"`
	Type       string `json:"type"`
	Created    int64  `json:"created"`
	Livemode   *bool  `json:"livemode"`
	APIVersion string `json:"api_version"`
	Data       struct {
		Object dataObject `json:"object"`
	} `json:"data"`
}

// dataObject is what caisse reads of data.object on receipt, in the same
// pass as the envelope: whether it is an object, and its id.
type dataObject struct {
	isObject bool
	id       string
	err      error
}

func (d *dataObject) UnmarshalJSON(b []byte) error {
	if b[0] != '{' {
		return nil
	}
	d.isObject = true
	var obj struct {
		ID string `json:"id"`
	}
	// A data.object that is not what caisse expects says so below, not as
	// an envelope that is not JSON.
	d.err = json.Unmarshal(b, &obj)
	d.id = obj.ID
	return nil
}

// DecodeError says why a verified body is not an event caisse can store.
type DecodeError struct{ Detail string }

func (e *DecodeError) Error() string { return e.Detail }

// DecodeEvent reads a webhook body's envelope: id, type, created, livemode,
// api_version and the id of the object it is about. The body must be a
// snapshot event ("object":"event"); a thin (v2) event notification is refused.
func DecodeEvent(payload []byte) (*caisse.Event, error) {
	// A thin event's envelope differs (created is an RFC 3339 string, no
	// data): a field of the wrong type still lets the others be read, so
	// its object says what it is.
	var env envelope
	err := json.Unmarshal(payload, &env)
	if strings.HasPrefix(env.Object, "v2.") {
		return nil, &DecodeError{Detail: "the body is a thin (v2) event notification; point a snapshot-event webhook endpoint at caisse"}
	}
	if err != nil {
		return nil, &DecodeError{Detail: fmt.Sprintf("the body is not valid JSON: %v", err)}
	}
	switch {
	case env.Object == "v2.core.event" || strings.HasPrefix(env.Object, "v2."):
		return nil, &DecodeError{Detail: "the body is a thin (v2) event notification; point a snapshot-event webhook endpoint at caisse"}
	case env.Object != "event":
		return nil, &DecodeError{Detail: fmt.Sprintf("the body is not a Stripe event (object is %q, want \"event\")", env.Object)}
	case !strings.HasPrefix(env.ID, "evt_") || !printable(env.ID, 255):
		return nil, &DecodeError{Detail: "the event has no valid id (evt_… with no spaces or control characters)"}
	case env.Type == "":
		return nil, &DecodeError{Detail: "the event has no type"}
	case !printable(env.Type, 255):
		return nil, &DecodeError{Detail: "the event's type is not an event type (spaces, control characters or over 255 characters)"}
	case env.APIVersion != "" && !printable(env.APIVersion, 64):
		return nil, &DecodeError{Detail: "the event's api_version is not an API version (spaces, control characters or over 64 characters)"}
	case env.Livemode == nil:
		return nil, &DecodeError{Detail: "the event has no livemode"}
	}
	obj := env.Data.Object
	if !obj.isObject {
		return nil, &DecodeError{Detail: "the event has no data.object"}
	}
	if obj.err != nil {
		return nil, &DecodeError{Detail: fmt.Sprintf("the event's data.object is not readable: %v", obj.err)}
	}
	if obj.id != "" && !printable(obj.id, 255) {
		return nil, &DecodeError{Detail: "the event's data.object.id is not a Stripe id (spaces, control characters or over 255 characters)"}
	}
	return &caisse.Event{
		ID:         env.ID,
		Type:       env.Type,
		Created:    env.Created,
		Livemode:   *env.Livemode,
		APIVersion: env.APIVersion,
		ObjectID:   obj.id,
		Payload:    payload,
		Status:     caisse.EventPending,
	}, nil
}

// field is one field of a Stripe object as received. caisse reads only the
// fields each event type needs, and reads them itself, so a field of an
// unexpected type that caisse does not use never fails an event.
type field = json.RawMessage

// object holds, undecoded, the fields caisse may read from any of the
// objects it handles.
type object struct {
	ID                 field `json:"id"`
	Object             field `json:"object"`
	Created            field `json:"created"`
	ClientReferenceID  field `json:"client_reference_id"`
	Metadata           field `json:"metadata"`
	PaymentIntent      field `json:"payment_intent"`
	Charge             field `json:"charge"`
	PaymentStatus      field `json:"payment_status"`
	Status             field `json:"status"`
	Amount             field `json:"amount"`
	AmountTotal        field `json:"amount_total"`
	AmountReceived     field `json:"amount_received"`
	AmountRefunded     field `json:"amount_refunded"`
	Currency           field `json:"currency"`
	CurrencyConversion field `json:"currency_conversion"`
	CustomerEmail      field `json:"customer_email"`
	ReceiptEmail       field `json:"receipt_email"`
	CustomerDetails    field `json:"customer_details"`
	Customer           field `json:"customer"`
	BillingDetails     field `json:"billing_details"`
	LastPaymentError   field `json:"last_payment_error"`
	LatestCharge       field `json:"latest_charge"`
	Charges            field `json:"charges"`
	Locale             field `json:"locale"`
	Reason             field `json:"reason"`
	EvidenceDetails    field `json:"evidence_details"`
	FraudType          field `json:"fraud_type"`
}

// objectTypes is the Stripe object each handled event type carries.
var objectTypes = map[string]string{
	"checkout.session.": "checkout.session",
	"payment_intent.":   "payment_intent",
	"charge.dispute.":   "dispute",
	"charge.refunded":   "charge",
	"charge.succeeded":  "charge",
	// An early fraud warning: a card issuer reported a charge as fraud.
	"radar.early_fraud_warning.": "radar.early_fraud_warning",
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
func Facts(e *caisse.Event) (caisse.EventFacts, error) {
	if !caisse.Handled(e.Type) {
		return caisse.EventFacts{Ignored: true, Reason: "caisse does not act on " + e.Type + " events"}, nil
	}
	var env struct {
		Account field `json:"account"`
		Data    struct {
			Object object `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(e.Payload, &env); err != nil {
		return caisse.EventFacts{}, refuse(e, "its body is not readable: %v", err)
	}
	r := &reader{e: e}
	if !isNull(env.Account) {
		var account string
		if json.Unmarshal(env.Account, &account) != nil || (account != "" && !printable(account, 255)) {
			return caisse.EventFacts{}, refuse(e, "its account is not a Stripe account id")
		}
		if account != "" {
			return caisse.EventFacts{Ignored: true, Reason: "the event is from connected account " + account +
				": caisse applies only the shop's own account's payments"}, nil
		}
	}
	o := env.Data.Object
	want := objectType(e.Type)
	// An object without its "object" key (as some captured or hand-made
	// events have) is read as what its type carries; only one that says it
	// is something else is refused.
	if got := r.str("object", o.Object); r.err == nil && got != "" && got != want {
		return caisse.EventFacts{}, refuse(e, "its data.object is a %q, not the %s a %s event carries", cut(got), want, e.Type)
	}
	f := caisse.Fact{ID: r.id("id", o.ID), Livemode: e.Livemode, Created: r.lenientInt(o.Created)}
	if r.err == nil && f.ID == "" {
		return caisse.EventFacts{}, refuse(e, "its data.object has no id")
	}
	f.Currency = r.currency("currency", o.Currency)
	if want != "dispute" && want != "radar.early_fraud_warning" {
		// The Stripe customer the payment names (an id, or the object
		// expanded), read leniently: caisse only asks Stripe for its
		// email when no event brings an address.
		if id := r.lenientRef(o.Customer); strings.HasPrefix(id, "cus_") {
			f.StripeCustomer = id
		}
	}
	switch want {
	case "checkout.session":
		f.Kind = caisse.KindSession
		md := r.metadata(o.Metadata)
		f.OrderRef = r.orderRef("client_reference_id", r.str("client_reference_id", o.ClientReferenceID))
		if f.OrderRef == "" {
			f.OrderRef = r.orderRef("metadata.order_id", md["order_id"])
		}
		f.PaymentIntent = r.ref("payment_intent", o.PaymentIntent)
		f.Amount = r.amount("amount_total", o.AmountTotal)
		r.convert(&f, o.CurrencyConversion)
		f.CustomerEmail = r.email(o.CustomerEmail)
		var details contact
		if json.Unmarshal(o.CustomerDetails, &details) == nil {
			if email := r.email(details.Email); email != "" {
				f.CustomerEmail = email
			}
			f.CustomerName, f.CustomerPhone = r.name(details.Name), r.phone(details.Phone)
		}
		f.Items, f.UnknownItems = items(md)
		f.Locale = r.locale(o.Locale)
		switch e.Type {
		case "checkout.session.completed":
			status := r.str("payment_status", o.PaymentStatus)
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
		md := r.metadata(o.Metadata)
		f.OrderRef = r.orderRef("metadata.order_id", md["order_id"])
		f.Amount = r.amount("amount", o.Amount)
		// The customer's address: the receipt's, else the billing details
		// of the card tried (a card can be declined before any session
		// completes).
		f.CustomerEmail = cmp.Or(r.email(o.ReceiptEmail), r.billingEmail(o.LastPaymentError, "payment_method"),
			r.billingEmail(o.LatestCharge, ""), r.chargesEmail(o.Charges))
		f.Items, f.UnknownItems = items(md)
		switch e.Type {
		case "payment_intent.succeeded":
			f.Succeeded = true
			f.AmountReceived = r.amount("amount_received", o.AmountReceived)
			if f.AmountReceived == 0 {
				f.AmountReceived = f.Amount
			}
		case "payment_intent.payment_failed":
			f.PaymentError = "the payment failed"
			var lastError struct {
				Message     field `json:"message"`
				Code        field `json:"code"`
				DeclineCode field `json:"decline_code"`
			}
			if json.Unmarshal(o.LastPaymentError, &lastError) == nil {
				if msg := r.lenientText(lastError.Message); msg != "" {
					f.PaymentError = msg
				}
				// The bank's reason says most to the customer; Stripe's
				// code otherwise (expired_card, incorrect_cvc…).
				f.PaymentErrorCode = cmp.Or(r.word(lastError.DeclineCode), r.word(lastError.Code))
			}
			f.PaymentErrorAt = e.Created
			f.FailedAttempts = []string{e.ID}
		}
	case "charge":
		f.Kind = caisse.KindCharge
		f.PaymentIntent = r.ref("payment_intent", o.PaymentIntent)
		f.Amount = r.amount("amount", o.Amount)
		f.AmountRefunded = r.amount("amount_refunded", o.AmountRefunded)
		// Who paid, as the card's billing details name them: the address
		// of a payment made outside Checkout, which may carry no other.
		var billing contact
		if !isNull(o.BillingDetails) && json.Unmarshal(o.BillingDetails, &billing) == nil {
			f.CustomerEmail = r.email(billing.Email)
			f.CustomerName, f.CustomerPhone = r.name(billing.Name), r.phone(billing.Phone)
		}
		f.CustomerEmail = cmp.Or(f.CustomerEmail, r.email(o.ReceiptEmail))
		// A charge that leaves its amount out (a captured or hand-made
		// shape) says only what was refunded; one that gives it cannot
		// have refunded more.
		if r.err == nil && !isNull(o.Amount) && f.AmountRefunded > f.Amount {
			return caisse.EventFacts{}, refuse(e, "its charge %s has amount_refunded %d, more than its amount %d", f.ID, f.AmountRefunded, f.Amount)
		}
	case "dispute":
		f.Kind = caisse.KindDispute
		f.PaymentIntent = r.ref("payment_intent", o.PaymentIntent)
		f.Charge = r.ref("charge", o.Charge)
		f.Amount = r.amount("amount", o.Amount)
		f.DisputeReason = r.word(o.Reason)
		var evidence struct {
			DueBy field `json:"due_by"`
		}
		if json.Unmarshal(o.EvidenceDetails, &evidence) == nil {
			f.EvidenceDueBy = r.lenientInt(evidence.DueBy)
		}
		f.DisputeStatus = r.str("status", o.Status)
		if f.DisputeStatus == "" {
			f.DisputeStatus = "needs_response"
		} else if r.err == nil && !printable(f.DisputeStatus, 64) {
			return caisse.EventFacts{}, refuse(e, "its dispute status is not a status")
		}
	case "radar.early_fraud_warning":
		f.Kind = caisse.KindFraudWarning
		f.Charge = r.ref("charge", o.Charge)
		f.PaymentIntent = r.ref("payment_intent", o.PaymentIntent)
		// What the issuer reported, read leniently: a word caisse shows,
		// never relies on.
		f.FraudType = r.word(o.FraudType)
	}
	if r.err != nil {
		return caisse.EventFacts{}, r.err
	}
	return caisse.EventFacts{Facts: []caisse.Fact{f}}, nil
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
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = refuse(r.e, format, args...)
	}
}

func isNull(v field) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}

// str reads a string field caisse relies on: null or absent is "", another
// type refuses the event.
func (r *reader) str(name string, v field) string {
	if isNull(v) {
		return ""
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
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
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '{' {
		var o struct {
			ID field `json:"id"`
		}
		if err := json.Unmarshal(v, &o); err != nil {
			r.fail("data.object.%s is not readable", name)
			return ""
		}
		return r.id(name+".id", o.ID)
	}
	return r.id(name, v)
}

// amount reads an amount in a currency's smallest unit: a whole number from
// 0 to caisse.MaxAmount, or null (0).
func (r *reader) amount(name string, v field) int64 {
	if isNull(v) {
		return 0
	}
	var n int64
	if err := json.Unmarshal(v, &n); err != nil {
		r.fail("data.object.%s is %s, not a whole number of the currency's smallest unit", name, cut(string(v)))
		return 0
	}
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
	if isNull(v) || bytes.TrimSpace(v)[0] != '{' {
		return
	}
	var cc struct {
		SourceCurrency field `json:"source_currency"`
		AmountTotal    field `json:"amount_total"`
	}
	if err := json.Unmarshal(v, &cc); err != nil {
		return
	}
	if source := r.currency("currency_conversion.source_currency", cc.SourceCurrency); source != "" {
		f.Currency = source
		f.Amount = r.amount("currency_conversion.amount_total", cc.AmountTotal)
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
// left out (Stripe's are always strings).
func (r *reader) metadata(v field) map[string]string {
	var raw map[string]field
	if isNull(v) || json.Unmarshal(v, &raw) != nil {
		return nil
	}
	md := make(map[string]string, len(raw))
	for k, val := range raw {
		var s string
		if json.Unmarshal(val, &s) == nil {
			md[k] = s
		}
	}
	return md
}

// lenientText reads an informative string: another type, or control
// characters, count as nothing; it is kept to 500 characters.
func (r *reader) lenientText(v field) string {
	var s string
	if isNull(v) || json.Unmarshal(v, &s) != nil {
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

// contact is how Stripe names a person: a session's customer_details, a
// charge's billing_details.
type contact struct {
	Email field `json:"email"`
	Name  field `json:"name"`
	Phone field `json:"phone"`
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
		var outer map[string]field
		if isNull(v) || json.Unmarshal(v, &outer) != nil {
			return ""
		}
		v = outer[within]
	}
	var o struct {
		BillingDetails struct {
			Email field `json:"email"`
		} `json:"billing_details"`
	}
	if isNull(v) || json.Unmarshal(v, &o) != nil {
		return ""
	}
	return r.email(o.BillingDetails.Email)
}

// chargesEmail reads the billing email of the first charge of a payment
// intent's charges list (older API versions).
func (r *reader) chargesEmail(v field) string {
	var list struct {
		Data []field `json:"data"`
	}
	if isNull(v) || json.Unmarshal(v, &list) != nil || len(list.Data) == 0 {
		return ""
	}
	return r.billingEmail(list.Data[0], "")
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
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '{' {
		var o struct {
			ID field `json:"id"`
		}
		if json.Unmarshal(v, &o) != nil {
			return ""
		}
		v = o.ID
	}
	s := r.lenientText(v)
	if !printable(s, 255) {
		return ""
	}
	return s
}

// lenientInt reads a whole number caisse does not rely on: anything else is 0.
func (r *reader) lenientInt(v field) int64 {
	var n int64
	if isNull(v) || json.Unmarshal(v, &n) != nil || n < 0 {
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

package caisse

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Forgotten is what forgetting a customer erased: the orders whose
// customer it was, and how many stored event payloads, outbox rows and
// facts lost their personal data. It names no person beyond the address
// it was asked for.
type Forgotten struct {
	// Email is the address forgetting was asked for ("" for the orders
	// the retention reached).
	Email string `json:"email,omitempty"`
	// Orders are the ids of the orders erased, sorted.
	Orders []string `json:"orders"`
	// Events is how many stored event payloads were redacted.
	Events int `json:"events"`
	// Deliveries is how many outbox rows lost an address or a detail.
	Deliveries int `json:"deliveries"`
	// Facts is how many facts about Stripe objects lost the customer.
	Facts int `json:"facts"`
}

// CustomerService forgets customers' personal data: their name, email,
// phone and addresses, wherever caisse keeps them (the orders, the facts,
// the outbox, the stored event payloads). Amounts, statuses and every id
// stay, so the books still add up and a late duplicate of an event is
// still recognised.
type CustomerService interface {
	// ForgetCustomer erases the personal data of the customer with this
	// address (in any case) from every order, fact, outbox row and event
	// payload that holds it, in one transaction.
	ForgetCustomer(ctx context.Context, email string) (*Forgotten, error)
	// ForgetOrdersBefore erases the personal data of at most limit orders
	// created before cutoff that still hold some, in one transaction, and
	// says which. Called again until it erases none.
	ForgetOrdersBefore(ctx context.Context, cutoff time.Time, limit int) (*Forgotten, error)
}

// ValidForgetEmail checks an address given to forget a customer: an
// address, not a pattern.
func ValidForgetEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	if email == "" || len(email) > 254 || !strings.Contains(email, "@") || strings.ContainsAny(email, " <>\x00") {
		return "", Errorf(EINVALID, "give the customer's email address, such as camille@example.com")
	}
	return email, nil
}

// Forget clears what the fact says of the person: their address, name,
// phone, Stripe customer and where the order goes. Amounts, statuses and
// ids stay.
func (f *Fact) Forget() bool {
	had := f.CustomerEmail != "" || f.CustomerName != "" || f.CustomerPhone != "" || f.StripeCustomer != "" || f.Shipping != nil
	f.CustomerEmail, f.CustomerName, f.CustomerPhone, f.StripeCustomer, f.Shipping = "", "", "", "", nil
	return had
}

// personalKeys are the fields of Stripe's objects that hold a person's
// data, at any depth: their whole value is erased (every string, number
// and flag inside becomes null; objects and lists keep their keys and
// length, so the payload keeps its shape). They cover a checkout
// session's customer_details, customer_email and collected_information
// (with its shipping_details), the shipping_details and shipping of
// earlier API versions and of payment intents and charges, a payment
// intent's receipt_email, the billing_details of charges and payment
// methods (last_payment_error.payment_method.billing_details included), a
// dispute's evidence about the customer, the Stripe customer an object
// names (its cus_ id points at Stripe's own copy of the person), and the
// payer details some payment methods carry.
var personalKeys = map[string]bool{
	"customer_details": true, "customer_email": true, "collected_information": true,
	"shipping_details": true, "shipping": true, "receipt_email": true, "billing_details": true,
	"customer": true, "customer_name": true, "customer_email_address": true, "customer_purchase_ip": true,
	"billing_address": true, "shipping_address": true, "payer_email": true, "payer_name": true,
	"verified_name": true, "verified_email": true, "cardholder_name": true, "ip_address": true,
}

// RedactPayload returns a stored event's payload with a person's data
// replaced by null: the values of personalKeys anywhere in it, and any
// other string that contains one of emails or equals one of values (in
// any case), such as an address a shop put in metadata. Every other value,
// the event's id and type and the objects' ids and amounts included, is
// kept as it was, in the same order; a replay reads no person from it.
// changed is false, and the payload returned as it was, when it held
// nothing to erase.
func RedactPayload(payload []byte, emails, values []string) (out []byte, changed bool, err error) {
	if len(bytes.TrimSpace(payload)) == 0 {
		return payload, false, nil
	}
	r := &redactor{dec: json.NewDecoder(bytes.NewReader(payload))}
	r.dec.UseNumber()
	for _, e := range emails {
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" {
			r.emails = append(r.emails, e)
		}
	}
	for _, v := range values {
		// A value of one or two characters would match too much (a
		// state, an initial): the keys cover where those stand.
		if v = strings.ToLower(strings.TrimSpace(v)); len(v) > 2 {
			r.values = append(r.values, v)
		}
	}
	if err := r.value(false); err != nil {
		return payload, false, fmt.Errorf("error redacting a payload: %w", err)
	}
	if !r.changed {
		return payload, false, nil
	}
	return r.out.Bytes(), true, nil
}

// redactor rewrites a JSON document token by token, so that the keys keep
// their order and the numbers their digits.
type redactor struct {
	dec            *json.Decoder
	out            bytes.Buffer
	emails, values []string
	changed        bool
}

// value copies the next value, erasing it (every scalar within) when erase.
func (r *redactor) value(erase bool) error {
	tok, err := r.dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		open, end := byte('{'), json.Delim('}')
		if t == '[' {
			open, end = '[', ']'
		}
		r.out.WriteByte(open)
		for i := 0; r.dec.More(); i++ {
			if i > 0 {
				r.out.WriteByte(',')
			}
			child := erase
			if open == '{' {
				k, err := r.dec.Token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				r.writeString(key)
				r.out.WriteByte(':')
				child = erase || personalKeys[key]
			}
			if err := r.value(child); err != nil {
				return err
			}
		}
		if tok, err := r.dec.Token(); err != nil {
			return err
		} else if tok != end {
			return fmt.Errorf("unbalanced %v", tok)
		}
		r.out.WriteByte(byte(end))
	case nil:
		r.out.WriteString("null")
	case string:
		if erase || r.personal(t) {
			r.out.WriteString("null")
			r.changed = true
		} else {
			r.writeString(t)
		}
	case json.Number:
		if erase {
			r.out.WriteString("null")
			r.changed = true
		} else {
			r.out.WriteString(t.String())
		}
	case bool:
		if erase {
			r.out.WriteString("null")
			r.changed = true
		} else {
			fmt.Fprint(&r.out, t)
		}
	default:
		return fmt.Errorf("unexpected %T", tok)
	}
	return nil
}

// personal reports whether a string holds one of the person's addresses,
// or is one of their other values.
func (r *redactor) personal(s string) bool {
	if len(r.emails) == 0 && len(r.values) == 0 {
		return false
	}
	l := strings.ToLower(s)
	for _, e := range r.emails {
		if strings.Contains(l, e) {
			return true
		}
	}
	for _, v := range r.values {
		if strings.TrimSpace(l) == v {
			return true
		}
	}
	return false
}

func (r *redactor) writeString(s string) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	r.out.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// PersonalValues are the strings that name a person on an order and its
// facts, for RedactPayload: names, phones and street lines (addresses are
// given apart, as emails).
func PersonalValues(c Customer, s *Shipping) []string {
	out := []string{c.Name, c.Phone}
	if s != nil {
		out = append(out, s.Name, s.Phone, s.Address.Line1, s.Address.Line2)
	}
	return out
}

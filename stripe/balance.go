package stripe

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	stripego "github.com/stripe/stripe-go/v85"

	"github.com/caisse/caisse"
)

// The books' calls: a balance transaction by its id, and the balance
// transactions of a payout. They are read as JSON through the backend's
// CallRaw, as ListEvents does, so caisse reads the few fields it keeps
// with its own types.

// balanceTxn is a balance transaction as Stripe's API gives it.
type balanceTxn struct {
	stripego.APIResource
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Amount       int64           `json:"amount"`
	Fee          int64           `json:"fee"`
	Net          int64           `json:"net"`
	Currency     string          `json:"currency"`
	ExchangeRate *float64        `json:"exchange_rate"`
	Created      int64           `json:"created"`
	AvailableOn  int64           `json:"available_on"`
	Source       json.RawMessage `json:"source"`
}

// balancePage is one page of GET /v1/balance_transactions.
type balancePage struct {
	stripego.APIResource
	HasMore bool         `json:"has_more"`
	Data    []balanceTxn `json:"data"`
}

// expandable is an expandable field: an id, or the object with its id.
type expandable struct {
	ID     string
	Object string
	Charge string
}

func (e *expandable) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &e.ID)
	}
	if string(b) == "null" {
		return nil
	}
	var o struct {
		ID     string          `json:"id"`
		Object string          `json:"object"`
		Charge json.RawMessage `json:"charge"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	e.ID, e.Object = o.ID, o.Object
	if len(o.Charge) > 0 {
		var c expandable
		if err := c.UnmarshalJSON(o.Charge); err != nil {
			return err
		}
		e.Charge = c.ID
	}
	return nil
}

// balanceOf turns Stripe's balance transaction into caisse's, with the
// charge its money belongs to when its source says (or is that charge),
// in the mode of the key that read it (a key reads its own mode's only).
func (c *Client) balanceOf(t balanceTxn) (caisse.BalanceTransaction, error) {
	var src expandable
	if len(t.Source) > 0 {
		if err := src.UnmarshalJSON(t.Source); err != nil {
			return caisse.BalanceTransaction{}, fmt.Errorf("balance transaction %s has a source caisse cannot read: %w", t.ID, err)
		}
	}
	if t.ID == "" || t.Amount-t.Fee != t.Net || t.Amount < -caisse.MaxAmount || t.Amount > caisse.MaxAmount {
		return caisse.BalanceTransaction{}, fmt.Errorf("balance transaction %q makes no sense: amount %d, fee %d, net %d", t.ID, t.Amount, t.Fee, t.Net)
	}
	b := caisse.BalanceTransaction{ID: t.ID, Type: t.Type, Source: src.ID, Amount: t.Amount, Fee: t.Fee, Net: t.Net,
		Currency: strings.ToLower(t.Currency), Created: t.Created, AvailableOn: t.AvailableOn, Known: true, Livemode: c.Livemode()}
	if t.ExchangeRate != nil {
		b.ExchangeRate = *t.ExchangeRate
	}
	switch {
	case src.Charge != "":
		b.Charge = src.Charge
	case src.Object == "charge" || strings.HasPrefix(src.ID, "ch_") || strings.HasPrefix(src.ID, "py_"):
		b.Charge = src.ID
	}
	return b, nil
}

// BalanceTransaction reads one balance transaction (GET
// /v1/balance_transactions/{id}). A 429's Retry-After is in the
// *caisse.StripeError.
func (c *Client) BalanceTransaction(ctx context.Context, id string) (caisse.BalanceTransaction, error) {
	after := &retryAfter{}
	ctx = context.WithValue(ctx, retryAfterKey{}, after)
	var t balanceTxn
	err := c.api.CallRaw(http.MethodGet, "/v1/balance_transactions/"+url.PathEscape(id), c.key, nil, &stripego.Params{Context: ctx}, &t)
	if err != nil {
		return caisse.BalanceTransaction{}, fmt.Errorf("error reading balance transaction %s: %w", id, c.apiErrorAfter(err, after))
	}
	return c.balanceOf(t)
}

// balancePerPage is the most Stripe lists at once.
const balancePerPage = 100

// PayoutTransactions lists the balance transactions a payout carried (GET
// /v1/balance_transactions?payout=po_…, each with its source expanded, so
// a refund or a dispute names its charge), a page at a time, paging with
// starting_after while Stripe says has_more.
func (c *Client) PayoutTransactions(ctx context.Context, payout string, fn func([]caisse.BalanceTransaction) error) error {
	after := ""
	for {
		q := url.Values{"payout": {payout}, "limit": {strconv.Itoa(balancePerPage)}, "expand[]": {"data.source"}}
		if after != "" {
			q.Set("starting_after", after)
		}
		wait := &retryAfter{}
		var page balancePage
		err := c.api.CallRaw(http.MethodGet, "/v1/balance_transactions", c.key, []byte(q.Encode()),
			&stripego.Params{Context: context.WithValue(ctx, retryAfterKey{}, wait)}, &page)
		if err != nil {
			return fmt.Errorf("error listing the balance transactions of payout %s: %w", payout, c.apiErrorAfter(err, wait))
		}
		txns := make([]caisse.BalanceTransaction, 0, len(page.Data))
		for _, t := range page.Data {
			b, err := c.balanceOf(t)
			if err != nil {
				return fmt.Errorf("error listing the balance transactions of payout %s: %w", payout, err)
			}
			b.Payout = payout
			txns = append(txns, b)
		}
		if err := fn(txns); err != nil {
			return err
		}
		if !page.HasMore {
			return nil
		}
		if len(page.Data) == 0 || page.Data[len(page.Data)-1].ID == after {
			return fmt.Errorf("error listing the balance transactions of payout %s: the page after %q says more follow but lists none", payout, after)
		}
		after = page.Data[len(page.Data)-1].ID
	}
}

// retryAfter holds the Retry-After of the last answer to a request whose
// context carries it.
type retryAfter struct {
	mu   sync.Mutex
	wait time.Duration
}

func (r *retryAfter) get() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wait
}

type retryAfterKey struct{}

// retryAfterTransport reads the Retry-After of each answer into the
// request's retryAfter holder, if it has one.
type retryAfterTransport struct{ next http.RoundTripper }

func (t retryAfterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.next.RoundTrip(req)
	if err != nil {
		return res, err
	}
	if h, ok := req.Context().Value(retryAfterKey{}).(*retryAfter); ok {
		d := retryAfterOf(res.Header.Get("Retry-After"), time.Now())
		h.mu.Lock()
		h.wait = d
		h.mu.Unlock()
	}
	return res, nil
}

// retryAfterOf reads a Retry-After header: seconds, or an HTTP date.
func retryAfterOf(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
		return time.Duration(min(n, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour)
	}
	return 0
}

// cmpTransport is t, or http.DefaultTransport when nil.
func cmpTransport(t http.RoundTripper) http.RoundTripper {
	if t == nil {
		return http.DefaultTransport
	}
	return t
}

// refundPage is one page of GET /v1/refunds, each refund with its balance
// transaction expanded.
type refundPage struct {
	stripego.APIResource
	HasMore bool `json:"has_more"`
	Data    []struct {
		ID                 string          `json:"id"`
		Charge             expandable      `json:"charge"`
		BalanceTransaction json.RawMessage `json:"balance_transaction"`
	} `json:"data"`
}

// ChargeRefunds returns the balance transactions of a charge's refunds (GET
// /v1/refunds?charge=ch_…, each with its balance transaction expanded): the
// refunds an event of a recent API version does not list on its charge.
// A refund not settled yet (no balance transaction) is left out.
func (c *Client) ChargeRefunds(ctx context.Context, charge string) ([]caisse.BalanceTransaction, error) {
	var out []caisse.BalanceTransaction
	after := ""
	for {
		q := url.Values{"charge": {charge}, "limit": {strconv.Itoa(balancePerPage)}, "expand[]": {"data.balance_transaction"}}
		if after != "" {
			q.Set("starting_after", after)
		}
		wait := &retryAfter{}
		var page refundPage
		err := c.api.CallRaw(http.MethodGet, "/v1/refunds", c.key, []byte(q.Encode()),
			&stripego.Params{Context: context.WithValue(ctx, retryAfterKey{}, wait)}, &page)
		if err != nil {
			return nil, fmt.Errorf("error listing the refunds of charge %s: %w", charge, c.apiErrorAfter(err, wait))
		}
		for _, re := range page.Data {
			if len(re.BalanceTransaction) == 0 || string(re.BalanceTransaction) == "null" {
				continue
			}
			var t caisse.BalanceTransaction
			if re.BalanceTransaction[0] == '"' {
				if err := json.Unmarshal(re.BalanceTransaction, &t.ID); err != nil {
					return nil, fmt.Errorf("error listing the refunds of charge %s: %w", charge, err)
				}
			} else {
				var bt balanceTxn
				if err := json.Unmarshal(re.BalanceTransaction, &bt); err != nil {
					return nil, fmt.Errorf("error listing the refunds of charge %s: refund %s: %w", charge, re.ID, err)
				}
				if t, err = c.balanceOf(bt); err != nil {
					return nil, fmt.Errorf("error listing the refunds of charge %s: %w", charge, err)
				}
			}
			t.Source, t.Charge, t.Livemode = re.ID, charge, c.Livemode()
			out = append(out, t)
		}
		if !page.HasMore {
			return out, nil
		}
		if len(page.Data) == 0 || page.Data[len(page.Data)-1].ID == after {
			return nil, fmt.Errorf("error listing the refunds of charge %s: the page after %q says more follow but lists none", charge, after)
		}
		after = page.Data[len(page.Data)-1].ID
	}
}

package http

import (
	"net/http"

	"github.com/caisse/caisse"
)

// The books: the payouts of the shop's Stripe balance, each with the money
// it carried.

// booksNote says why an order's fee and net are empty, in the page's
// language, or "" when they are not.
func (s *Server) booksNote(lang string, o *caisse.Order) string {
	switch {
	case !s.StripeKey && o.Fee == nil:
		return tr(lang, "Stripe's fee and the net are unknown: caisse learns them through Stripe's API, which needs STRIPE_SECRET_KEY.")
	case o.Pending:
		return tr(lang, "caisse is asking Stripe for the fee of a payment of this order.")
	case o.Fee == nil && len(o.BalanceTransactions) == 0:
		return tr(lang, "Stripe's fee is not known yet: it comes with the payment's settlement.")
	}
	return ""
}

func (s *Server) handlePayouts(w http.ResponseWriter, r *http.Request) {
	p, err := page(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	payouts, more, err := s.Books.FindPayouts(r.Context(), caisse.PayoutFilter{Page: p})
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(payouts, more))
}

func (s *Server) handlePayout(w http.ResponseWriter, r *http.Request) {
	rep, err := s.Books.FindPayout(r.Context(), r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) pagePayouts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := caisse.PayoutFilter{Page: caisse.Page{Limit: pageSize, StartingAfter: q.Get("starting_after")}}
	payouts, more, err := s.Books.FindPayouts(r.Context(), f)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	data := map[string]any{"Payouts": payouts, "NoKey": !s.StripeKey}
	if more {
		data["Next"] = queryString("starting_after", payouts[len(payouts)-1].ID)
	}
	s.render(w, r, http.StatusOK, "payouts", data, "Payouts")
}

func (s *Server) pagePayout(w http.ResponseWriter, r *http.Request) {
	rep, err := s.Books.FindPayout(r.Context(), r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "payout", map[string]any{"R": rep, "NoKey": !s.StripeKey}, "Payout %s", rep.Payout.ID)
}

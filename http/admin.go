package http

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/caisse/caisse"
)

// list is the shape of every list answer.
type list[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"has_more"`
}

func newList[T any](data []T, more bool) list[T] {
	if data == nil {
		data = []T{}
	}
	return list[T]{Data: data, HasMore: more}
}

func page(r *http.Request) (caisse.Page, error) {
	p := caisse.Page{StartingAfter: r.URL.Query().Get("starting_after")}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, caisse.Errorf(caisse.EINVALID, "limit must be a whole number between 1 and 1000, got %q", v)
		}
		p.Limit = n
	}
	return p, p.Normalize()
}

func (s *Server) handleProducts(w http.ResponseWriter, r *http.Request) {
	p, err := page(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	products, more, err := s.Products.FindProducts(r.Context(), p)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(products, more))
}

func (s *Server) handleProduct(w http.ResponseWriter, r *http.Request) {
	p, err := s.Products.FindProduct(r.Context(), r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handlePutProduct(w http.ResponseWriter, r *http.Request) {
	var u caisse.ProductUpdate
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		s.Error(w, r, caisse.Errorf(caisse.EINVALID, "the body must be JSON {name, price, currency, stock}: %v", err))
		return
	}
	p, err := s.Products.PutProduct(r.Context(), r.PathValue("id"), u)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) handleOrders(w http.ResponseWriter, r *http.Request) {
	p, err := page(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	f := caisse.OrderFilter{Status: caisse.OrderStatus(r.URL.Query().Get("status")), Query: strings.TrimSpace(r.URL.Query().Get("q")), Page: p}
	orders, more, err := s.Orders.FindOrders(r.Context(), f)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(orders, more))
}

func (s *Server) handleOrder(w http.ResponseWriter, r *http.Request) {
	o, err := s.Orders.FindOrder(r.Context(), r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// handleShipOrder records that an order left: 200 with the order; 409 with
// the reason when it cannot ship.
func (s *Server) handleShipOrder(w http.ResponseWriter, r *http.Request) {
	var req caisse.ShipRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.Error(w, r, caisse.Errorf(caisse.EINVALID, "the body must be JSON {carrier, tracking_number, tracking_url}: %v", err))
		return
	}
	o, err := s.Orders.ShipOrder(r.Context(), r.PathValue("id"), req)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *Server) handleRefund(w http.ResponseWriter, r *http.Request) {
	var req caisse.RefundRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.Error(w, r, caisse.Errorf(caisse.EINVALID,
			"the body must be JSON {amount} or {lines: [{product_id, quantity}]}, with restock, reason and key if wanted: %v", err))
		return
	}
	if s.Refunds == nil {
		s.Error(w, r, caisse.Errorf(caisse.ECONFLICT, "this caisse takes no refunds: it needs STRIPE_SECRET_KEY"))
		return
	}
	x, err := s.Refunds.RequestRefund(r.Context(), r.PathValue("id"), req)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, x)
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	p, err := page(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	f, err := eventFilter(r.URL.Query())
	if err != nil {
		s.Error(w, r, err)
		return
	}
	f.Page = p
	events, more, err := s.Events.FindEvents(r.Context(), f)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(events, more))
}

func (s *Server) handleEvent(w http.ResponseWriter, r *http.Request) {
	e, err := s.Events.FindEvent(r.Context(), r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) handleReplay(w http.ResponseWriter, r *http.Request) {
	e, err := s.Events.ReplayEvent(r.Context(), r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, e)
}

func (s *Server) handleDeliveries(w http.ResponseWriter, r *http.Request) {
	p, err := page(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	q := r.URL.Query()
	f := caisse.DeliveryFilter{Status: caisse.DeliveryStatus(q.Get("status")), Channel: caisse.Channel(q.Get("channel")),
		OrderID: q.Get("order"), Page: p}
	deliveries, more, err := s.Deliveries.FindDeliveries(r.Context(), f)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(deliveries, more))
}

func (s *Server) handleDelivery(w http.ResponseWriter, r *http.Request) {
	d, err := s.Deliveries.FindDelivery(r.Context(), r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) handleRetryDelivery(w http.ResponseWriter, r *http.Request) {
	d, err := s.Deliveries.RetryDelivery(r.Context(), r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, d)
}

// handleForgetCustomer erases a customer's personal data and says what it
// erased: the address asked for, the orders' ids and counts, nothing more.
func (s *Server) handleForgetCustomer(w http.ResponseWriter, r *http.Request) {
	if s.Customers == nil {
		s.Error(w, r, caisse.Errorf(caisse.ENOTFOUND, "no admin route %s /api/admin/customers/{email}", r.Method))
		return
	}
	f, err := s.Customers.ForgetCustomer(r.Context(), r.PathValue("email"))
	if err != nil {
		// The path holds the address: an internal error is logged with
		// the route, not with it.
		r = r.Clone(r.Context())
		r.URL.Path = "/api/admin/customers/{email}"
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

package http

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/catalogue"
)

// pageSize is how many rows a list page shows.
const pageSize = 50

// staleAfter is how long without an event before the dashboard warns.
const staleAfter = 24 * time.Hour

// formTime is how the pages write a time in a link or a form field (the
// value of an <input type="datetime-local">, in UTC).
const formTime = "2006-01-02T15:04"

func (s *Server) pageDashboard(w http.ResponseWriter, r *http.Request) {
	now, lang := s.now().UTC(), s.pageLanguage(r)
	d, err := s.Dashboard.Dashboard(r.Context(), now)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	data := map[string]any{
		"D":       d,
		"HourAgo": now.Add(-time.Hour).Format(formTime),
		"DayAgo":  now.Add(-24 * time.Hour).Format(formTime),
		"Now":     now,
	}
	if d.EventsDay > 0 {
		// To a tenth of a percent, as a Percent counts hundredths.
		rate := caisse.Percent(math.Round(1000*float64(d.FailedDay)/float64(d.EventsDay))) * 10
		data["FailureRate"] = formatPercent(rate, lang)
	}
	if !d.LastReceivedAt.IsZero() {
		ago := now.Sub(d.LastReceivedAt)
		data["LastAgo"] = roughly(ago, lang)
		data["Stale"] = ago > staleAfter
	}
	if !d.Backlog.OldestPending.IsZero() {
		data["Lag"] = roughly(now.Sub(d.Backlog.OldestPending), lang)
	}
	toShip, more, err := s.Orders.FindOrders(r.Context(), caisse.OrderFilter{Status: caisse.FlagToShip, Page: caisse.Page{Limit: 20}})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	data["ToShip"], data["MoreToShip"] = toShip, more
	if err := s.dashboardMoney(r, now, lang, data); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "dashboard", data, "Dashboard")
}

// eventFilter reads the events filter of a page's query or form.
func eventFilter(v url.Values) (caisse.EventFilter, error) {
	f := caisse.EventFilter{Status: caisse.EventStatus(v.Get("status")), Type: strings.TrimSpace(v.Get("type")),
		OrderID: strings.TrimSpace(v.Get("order"))}
	var err error
	if f.Since, err = parseFormTime("from", v.Get("since")); err != nil {
		return f, err
	}
	if f.Until, err = parseFormTime("until", v.Get("until")); err != nil {
		return f, err
	}
	f.Page = caisse.Page{Limit: pageSize, StartingAfter: v.Get("starting_after")}
	return f, f.Normalize()
}

// parseFormTime reads a time written in UTC, to the minute or the day.
func parseFormTime(what, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{formTime, "2006-01-02T15:04:05", time.RFC3339, "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, caisse.Errorf(caisse.EINVALID, "the %q time %q is not one caisse reads: write it as 2026-12-01T14:30 (UTC)", what, v)
}

// filterPairs is a filter as query pairs, for links and hidden fields.
func filterPairs(f caisse.EventFilter) []any {
	pairs := []any{"status", f.Status, "type", f.Type, "order", f.OrderID}
	if !f.Since.IsZero() {
		pairs = append(pairs, "since", f.Since.Format(formTime))
	}
	if !f.Until.IsZero() {
		pairs = append(pairs, "until", f.Until.Format(formTime))
	}
	return pairs
}

func (s *Server) pageEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := map[string]any{"Statuses": caisse.EventStatuses, "Types": caisse.HandledTypes, "Q": q, "ID": strings.TrimSpace(q.Get("id"))}
	f, err := eventFilter(q)
	data["Filter"] = f
	if err != nil {
		data["Problem"] = caisse.ErrorMessage(err)
		s.render(w, r, http.StatusBadRequest, "events", data, "Events")
		return
	}
	data["FilterQuery"] = queryString(filterPairs(f)...)
	var events []*caisse.Event
	var more bool
	if id := data["ID"].(string); id != "" {
		e, err := s.Events.FindEvent(r.Context(), id)
		if err != nil && caisse.ErrorCode(err) != caisse.ENOTFOUND {
			s.pageError(w, r, err)
			return
		}
		if e != nil {
			events = []*caisse.Event{e}
		}
	} else if events, more, err = s.Events.FindEvents(r.Context(), f); err != nil {
		s.pageError(w, r, err)
		return
	}
	data["Events"] = events
	if more {
		data["Next"] = queryString(append(filterPairs(f), "starting_after", events[len(events)-1].ID)...)
	}
	s.render(w, r, http.StatusOK, "events", data, "Events")
}

// change is one thing an event did to an order, as the pages show it.
type change struct {
	Entry      caisse.TimelineEntry
	Deliveries []*caisse.Delivery
}

func (s *Server) pageEvent(w http.ResponseWriter, r *http.Request) {
	e, err := s.Events.FindEvent(r.Context(), r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	data := map[string]any{"E": e}
	var pretty bytes.Buffer
	if len(e.Payload) == 0 {
		data["Payload"] = tr(s.pageLanguage(r), "(pruned: caisse keeps an ignored event's body for CAISSE_RETENTION, then only its id)")
	} else if json.Indent(&pretty, e.Payload, "", "  ") == nil {
		data["Payload"] = pretty.String()
	} else {
		data["Payload"] = string(e.Payload)
	}
	if e.ObjectID != "" && s.Facts != nil {
		f, err := s.Facts.FindFact(r.Context(), e.ObjectID)
		if err != nil && caisse.ErrorCode(err) != caisse.ENOTFOUND {
			s.pageError(w, r, err)
			return
		}
		if f != nil {
			b, _ := json.MarshalIndent(f.Fact, "", "  ")
			data["Fact"], data["FactOrder"] = string(b), f.OrderID
		}
	}
	if e.OrderID != "" {
		o, err := s.Orders.FindOrder(r.Context(), e.OrderID)
		if err != nil && caisse.ErrorCode(err) != caisse.ENOTFOUND {
			s.pageError(w, r, err)
			return
		}
		if o != nil {
			data["Order"] = o
			changes, err := s.changes(r, o)
			if err != nil {
				s.pageError(w, r, err)
				return
			}
			var entries []caisse.TimelineEntry
			var caused []*caisse.Delivery
			for _, c := range changes {
				if c.Entry.EventID == e.ID {
					entries = append(entries, c.Entry)
				}
				for _, d := range c.Deliveries {
					if d.EventID == e.ID {
						caused = append(caused, d)
					}
				}
			}
			data["Entries"], data["Deliveries"] = entries, caused
		}
	}
	s.render(w, r, http.StatusOK, "event", data, "Event %s", e.ID)
}

// changes pairs an order's timeline with the deliveries each entry's event
// caused. Deliveries no timeline entry names come last, on their own.
func (s *Server) changes(r *http.Request, o *caisse.Order) ([]change, error) {
	deliveries, _, err := s.Deliveries.FindDeliveries(r.Context(), caisse.DeliveryFilter{OrderID: o.ID, Page: caisse.Page{Limit: 1000}})
	if err != nil {
		return nil, err
	}
	slices.Reverse(deliveries) // oldest first, as the timeline
	out := make([]change, 0, len(o.Timeline))
	used := map[string]bool{}
	for _, t := range o.Timeline {
		c := change{Entry: t}
		if t.EventID != "" && !used[t.EventID] {
			for _, d := range deliveries {
				if d.EventID == t.EventID {
					c.Deliveries = append(c.Deliveries, d)
				}
			}
			used[t.EventID] = true
		}
		out = append(out, c)
	}
	var rest []*caisse.Delivery
	for _, d := range deliveries {
		if !used[d.EventID] {
			rest = append(rest, d)
		}
	}
	if len(rest) > 0 {
		out = append(out, change{Deliveries: rest})
	}
	return out, nil
}

func (s *Server) postReplay(w http.ResponseWriter, r *http.Request) {
	e, err := s.Events.ReplayEvent(r.Context(), r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	redirect(w, r, "/admin/events/"+url.PathEscape(e.ID), "done", "replayed", "n", 1)
}

func (s *Server) pageReplayConfirm(w http.ResponseWriter, r *http.Request) {
	f, err := eventFilter(r.URL.Query())
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	n, err := s.Events.CountReplayable(r.Context(), f)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "replay", map[string]any{"Filter": f, "Count": n,
		"FilterQuery": queryString(filterPairs(f)...), "Fields": hiddenFields(filterPairs(f))}, "Replay events")
}

// hiddenFields turns query pairs into the name/value pairs of a form.
func hiddenFields(pairs []any) [][2]string {
	var out [][2]string
	for i := 0; i+1 < len(pairs); i += 2 {
		if v := fmt.Sprint(pairs[i+1]); v != "" {
			out = append(out, [2]string{fmt.Sprint(pairs[i]), v})
		}
	}
	return out
}

func (s *Server) postReplayFilter(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.pageError(w, r, caisse.Errorf(caisse.EINVALID, "the form could not be read: %v", err))
		return
	}
	f, err := eventFilter(r.PostForm)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	n, err := s.Events.ReplayEvents(r.Context(), f)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.Logger.Info("replayed events from the admin pages", "count", n, "status", f.Status, "type", f.Type, "order", f.OrderID)
	redirect(w, r, "/admin/events", append(filterPairs(f), "done", "replayed", "n", n)...)
}

func (s *Server) pageOrders(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := caisse.OrderFilter{Status: caisse.OrderStatus(q.Get("status")), Query: strings.TrimSpace(q.Get("q")),
		Page: caisse.Page{Limit: pageSize, StartingAfter: q.Get("starting_after")}}
	data := map[string]any{"Filter": f, "Statuses": caisse.OrderStatuses, "Flags": caisse.OrderFlags}
	orders, more, err := s.Orders.FindOrders(r.Context(), f)
	if caisse.ErrorCode(err) == caisse.EINVALID {
		data["Problem"] = caisse.ErrorMessage(err)
		s.render(w, r, http.StatusBadRequest, "orders", data, "Orders")
		return
	} else if err != nil {
		s.pageError(w, r, err)
		return
	}
	data["Orders"] = orders
	if more {
		data["Next"] = queryString("status", f.Status, "q", f.Query, "starting_after", orders[len(orders)-1].ID)
	}
	s.render(w, r, http.StatusOK, "orders", data, "Orders")
}

func (s *Server) pageOrder(w http.ResponseWriter, r *http.Request) {
	o, err := s.Orders.FindOrder(r.Context(), r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.renderOrder(w, r, http.StatusOK, o, orderForms{})
}

// orderForms are the forms of an order's page that were refused, each
// shown again with its reason and what was typed.
type orderForms struct {
	ship   *shipForm
	refund *refusedForm
}

// shipForm is the order page's shipment form: what it shows typed, why
// it was refused, or why the order cannot ship.
type shipForm struct {
	caisse.ShipRequest
	Problem, Blocked string
}

// renderOrder shows an order's page with status and its forms as refused.
func (s *Server) renderOrder(w http.ResponseWriter, r *http.Request, status int, o *caisse.Order, forms orderForms) {
	changes, err := s.changes(r, o)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	lang := s.pageLanguage(r)
	ship := forms.ship
	if ship == nil {
		ship = &shipForm{}
		if sh := o.Shipment; sh != nil {
			ship.ShipRequest = caisse.ShipRequest{Carrier: sh.Carrier, TrackingNumber: sh.TrackingNumber, TrackingURL: sh.TrackingURL}
		}
	}
	if why := o.CannotShip(); why != "" {
		ship.Blocked = tr(lang, "It cannot be shipped: %s.", caisse.NoShipWords(why, o, lang))
	}
	data := map[string]any{"O": o, "Lines": linesOf(o), "Changes": changes, "Ship": ship, "Refund": refundFormOf(o, forms.refund),
		"BooksNote": s.booksNote(lang, o)}
	s.render(w, r, status, "order", data, "Order %s", o.ID)
}

// refundForm is the refund form of an order's page.
type refundForm struct {
	// Open is set when the order can be refunded (paid, or partly refunded).
	Open bool
	// Left is what is left to refund: paid, less refunded, less asked for
	// and not yet confirmed.
	Left int64
	// Lines are the lines with units left to return.
	Lines []refundLine
	// Key tells this form's refund from another of the same amount and
	// lines: one per form shown, so the same form sent twice is one refund.
	Key string
	// Refused is the form as refused, with its reason.
	Refused *refusedForm
	// Reasons are Stripe's reasons for a refund.
	Reasons []string
}

// refundLine is a line of the refund form: its units left to return, and
// those typed in a refused form.
type refundLine struct {
	caisse.Line
	Left  int64
	Typed string
}

func refundFormOf(o *caisse.Order, refused *refusedForm) refundForm {
	f := refundForm{Open: o.Status == caisse.StatusPaid || o.Status == caisse.StatusPartiallyRefunded, Refused: refused,
		Reasons: caisse.RefundReasons, Key: newFormKey()}
	asked := map[string]int64{}
	pending := int64(0)
	for _, x := range o.RefundsRequested {
		if x.Status == caisse.RefundFailed {
			continue
		}
		for _, l := range x.Lines {
			asked[l.ProductID] += l.Quantity
		}
		if x.Status == caisse.RefundRequested {
			pending += x.Amount
		}
	}
	f.Left = max(o.AmountPaid-o.AmountRefunded-pending, 0)
	var typed map[string]string
	if refused != nil {
		f.Key = refused.Typed.Get("key")
		typed = map[string]string{}
		products, quantities := refused.Typed["product"], refused.Typed["quantity"]
		for i := range min(len(products), len(quantities)) {
			typed[products[i]] = quantities[i]
		}
	}
	for _, l := range o.Items {
		if left := l.Quantity - asked[l.ProductID]; left > 0 && !slices.Contains(o.UnknownProducts, l.ProductID) {
			f.Lines = append(f.Lines, refundLine{Line: l, Left: left, Typed: typed[l.ProductID]})
		}
	}
	return f
}

// newFormKey is a random key for one refund form shown.
func newFormKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// postRefund asks for the owner's refund of an order from its page: the
// lines' units typed (their price as sold, unless an amount is typed), or
// an amount in the order's currency. A refund the rules refuse shows the
// page again with the reason and what was typed.
func (s *Server) postRefund(w http.ResponseWriter, r *http.Request) {
	id, lang := r.PathValue("id"), s.pageLanguage(r)
	o, err := s.Orders.FindOrder(r.Context(), id)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	refuse := func(status int, problem string) {
		code := caisse.EINVALID
		if status == http.StatusConflict {
			code = caisse.ECONFLICT
		}
		s.Logger.Info("refused a refund form of the admin pages", "order_id", id, "code", code)
		s.Metrics.Errors.WithLabelValues(code).Inc()
		s.renderOrder(w, r, status, o, orderForms{refund: &refusedForm{Problem: problem, Typed: r.PostForm}})
	}
	form := r.PostForm
	req := caisse.RefundRequest{Restock: form.Get("restock") != "", Reason: form.Get("reason"), Key: form.Get("key")}
	if v := strings.TrimSpace(form.Get("amount")); v != "" {
		n, err := caisse.ParseAmount(v, o.Currency)
		if err != nil || n == 0 {
			refuse(http.StatusBadRequest, tr(lang, "No refund was asked: the amount must be an amount of %s greater than 0, such as %s, not %q.",
				strings.ToUpper(o.Currency), plainAmount(exampleAmount(o.Currency), o.Currency, lang), v))
			return
		}
		req.Amount = n
	}
	products, quantities := form["product"], form["quantity"]
	for i := range min(len(products), len(quantities)) {
		v := strings.TrimSpace(quantities[i])
		if v == "" || v == "0" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			refuse(http.StatusBadRequest, tr(lang, "No refund was asked: the units of %s to return must be a whole number, such as 1, not %q.", products[i], v))
			return
		}
		req.Lines = append(req.Lines, caisse.Item{ProductID: products[i], Quantity: n})
	}
	if req.Amount == 0 && len(req.Lines) == 0 {
		refuse(http.StatusBadRequest, tr(lang, "No refund was asked: type the units returned of each line, or an amount."))
		return
	}
	if s.Refunds == nil {
		refuse(http.StatusConflict, tr(lang, "No refund was asked: caisse refunds through Stripe's API and needs STRIPE_SECRET_KEY for it."))
		return
	}
	if _, err := s.Refunds.RequestRefund(r.Context(), id, req); err != nil {
		switch caisse.ErrorCode(err) {
		case caisse.EINVALID:
			refuse(http.StatusBadRequest, tr(lang, "No refund was asked: %s", caisse.ErrorMessage(err)))
		case caisse.ECONFLICT:
			refuse(http.StatusConflict, tr(lang, "No refund was asked: %s", caisse.ErrorMessage(err)))
		default:
			s.pageError(w, r, err)
		}
		return
	}
	redirect(w, r, "/admin/orders/"+url.PathEscape(id), "done", "refund")
}

// postShip records that an order left, as the API's
// POST /api/admin/orders/{id}/ship does. A form the rules refuse shows
// the page again with the reason, in the page's language, and what was
// typed.
func (s *Server) postShip(w http.ResponseWriter, r *http.Request) {
	id, lang := r.PathValue("id"), s.pageLanguage(r)
	o, err := s.Orders.FindOrder(r.Context(), id)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	form := &shipForm{ShipRequest: caisse.ShipRequest{Carrier: r.PostFormValue("carrier"),
		TrackingNumber: r.PostFormValue("tracking_number"), TrackingURL: r.PostFormValue("tracking_url")}}
	refuse := func(status int, problem string) {
		code := caisse.EINVALID
		if status == http.StatusConflict {
			code = caisse.ECONFLICT
		}
		s.Logger.Info("refused the shipment form of an order", "order_id", id, "code", code)
		s.Metrics.Errors.WithLabelValues(code).Inc()
		form.Problem = problem
		s.renderOrder(w, r, status, o, orderForms{ship: form})
	}
	req := form.ShipRequest
	switch req.Problem() {
	case caisse.ShipMissing:
		refuse(http.StatusBadRequest, tr(lang, "The shipment was not recorded: say which carrier took the parcel and its tracking number."))
		return
	case caisse.ShipTooLong:
		refuse(http.StatusBadRequest, tr(lang, "The shipment was not recorded: the carrier and the tracking number take at most 100 characters each."))
		return
	case caisse.ShipTrackingURL:
		refuse(http.StatusBadRequest, tr(lang, "The shipment was not recorded: the tracking page must be a web address, such as https://www.laposte.fr/outils/suivre-vos-envois?code=…"))
		return
	}
	if _, err := s.Orders.ShipOrder(r.Context(), id, req); err != nil {
		var e *caisse.Error
		if errors.As(err, &e) && e.Code == caisse.ECONFLICT {
			if o, err = s.Orders.FindOrder(r.Context(), id); err != nil {
				s.pageError(w, r, err)
				return
			}
			refuse(http.StatusConflict, tr(lang, "The shipment was not recorded: %s.", caisse.NoShipWords(e.Reason, o, lang)))
			return
		}
		s.pageError(w, r, err)
		return
	}
	redirect(w, r, "/admin/orders/"+url.PathEscape(id), "done", "shipped")
}

// pageSlip is an order's packing slip: where it goes and what goes in the
// parcel, to print, without the pages' navigation.
func (s *Server) pageSlip(w http.ResponseWriter, r *http.Request) {
	o, err := s.Orders.FindOrder(r.Context(), r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "slip", map[string]any{"O": o, "Lines": linesOf(o)}, "Packing slip %s", o.ID)
}

// line is one line of an order as its page shows it.
type line struct {
	caisse.Line
	// Unknown is set when the product is not in the catalogue.
	Unknown bool
	// Total is the line's amount, 0 when its unit price is unknown.
	Total int64
}

func linesOf(o *caisse.Order) []line {
	out := make([]line, len(o.Items))
	for i, l := range o.Items {
		out[i] = line{Line: l, Unknown: slices.Contains(o.UnknownProducts, l.ProductID)}
		if l.UnitAmount > 0 && l.Quantity > 0 && l.Quantity <= math.MaxInt64/l.UnitAmount {
			out[i].Total = l.UnitAmount * l.Quantity
		}
	}
	return out
}

// maxListedLines is how many lines of an order a list shows.
const maxListedLines = 3

// itemsSaid writes an order's lines for a list: "2 × Tee, 1 × Print #2",
// the first few only.
func itemsSaid(lines []caisse.Line, lang string) string {
	var parts []string
	for i, l := range lines {
		if i == maxListedLines {
			parts = append(parts, tr(lang, "and %d more", len(lines)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("%d × %s", l.Quantity, cmp.Or(l.Name, l.ProductID)))
	}
	return strings.Join(parts, ", ")
}

func (s *Server) pageProducts(w http.ResponseWriter, r *http.Request) {
	s.renderProducts(w, r, http.StatusOK, nil)
}

// renderProducts shows the products page with status; refused, when set,
// is a form of the page that was refused, shown with its reason.
func (s *Server) renderProducts(w http.ResponseWriter, r *http.Request, status int, refused *refusedForm) {
	q := r.URL.Query()
	products, more, err := s.Products.FindProducts(r.Context(), caisse.Page{Limit: 200, StartingAfter: q.Get("starting_after")})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	data := map[string]any{"Products": products, "Locales": []string{"", caisse.LangFrench, caisse.LangEnglish}, "Refused": refused}
	if refused != nil {
		data["Problem"] = refused.Problem
		if refused.Product != "" && !slices.ContainsFunc(products, func(p *caisse.Product) bool { return p.ID == refused.Product }) {
			// The product is on another page of the list: show it first.
			if p, err := s.Products.FindProduct(r.Context(), refused.Product); err == nil {
				data["Products"] = append([]*caisse.Product{p}, products...)
			}
		}
	}
	if more {
		data["Next"] = queryString("starting_after", products[len(products)-1].ID)
	}
	s.render(w, r, status, "products", data, "Products")
}

// refusedForm is a form of the products page that was refused: the page
// shows it again with the reason, and what the owner typed.
type refusedForm struct {
	// Product is the product whose form was refused; "" for the import.
	Product string
	// Problem is the reason, in the page's language.
	Problem string
	// Details are the lines of a refused file, each with its problem.
	Details []string
	// Typed is the form as the owner sent it, so nothing typed is lost.
	Typed url.Values
}

// refuseProduct shows the products page again, 400 (409 for a conflict),
// with why the form of product id was refused.
func (s *Server) refuseProduct(w http.ResponseWriter, r *http.Request, status int, id, problem string) {
	code := caisse.EINVALID
	if status == http.StatusConflict {
		code = caisse.ECONFLICT
	}
	s.Logger.Info("refused a product's form of the admin pages", "product", id, "code", code)
	s.Metrics.Errors.WithLabelValues(code).Inc()
	s.renderProducts(w, r, status, &refusedForm{Product: id, Problem: problem, Typed: r.PostForm})
}

// postProduct changes a product's stock, price and artist, with the API's
// rule: the stock is the units on hand, never below those reserved by open
// checkouts. A field the form does not carry is left as it is. A form the
// rules refuse shows the page again, with the reason in the page's
// language and what the owner typed.
func (s *Server) postProduct(w http.ResponseWriter, r *http.Request) {
	id, lang := r.PathValue("id"), s.pageLanguage(r)
	p, err := s.Products.FindProduct(r.Context(), id)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	var u caisse.ProductUpdate
	// The form carries the stock the page showed: unless the owner changed
	// it, a save leaves the stock alone, so a sale made since the page
	// loaded stays a sale. A stock changed on the page while sales moved it
	// is refused rather than overwriting them.
	if v := strings.TrimSpace(r.PostFormValue("stock")); v != "" && v != strings.TrimSpace(r.PostFormValue("stock_was")) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > caisse.MaxAmount {
			s.refuseProduct(w, r, http.StatusBadRequest, id, tr(lang, "%s was not saved: its stock must be a whole number of units, such as 0, 1 or 12, not %q.", id, v))
			return
		}
		if n < p.Reserved {
			s.refuseProduct(w, r, http.StatusConflict, id, tr(lang, "%s was not saved: its stock cannot go below the %d units open checkouts reserve. Set at least %d, or wait for those checkouts to end.", id, p.Reserved, p.Reserved))
			return
		}
		if was, err := strconv.ParseInt(r.PostFormValue("stock_was"), 10, 64); err == nil {
			u.StockWas = &was // the store refuses it if sales moved the stock since
		}
		u.Stock = &n
	}
	if v := strings.TrimSpace(r.PostFormValue("price")); v != "" {
		n, err := caisse.ParseAmount(v, p.Currency)
		if err != nil {
			s.refuseProduct(w, r, http.StatusBadRequest, id, tr(lang, "%s was not saved: its price %q is not an amount of %s. Write it in %s, such as %s.",
				id, v, strings.ToUpper(p.Currency), strings.ToUpper(p.Currency), plainAmount(exampleAmount(p.Currency), p.Currency, lang)))
			return
		}
		u.Price = &n
	}
	// The artist's fields come filled with their values: one the owner
	// emptied is cleared (an artist no longer told of sales), so each is
	// set whenever the form carries it.
	form := r.PostForm
	if form.Has("artist_name") {
		v := strings.TrimSpace(form.Get("artist_name"))
		u.ArtistName = &v
	}
	if form.Has("artist_email") {
		v := caisse.ParseAddresses(form.Get("artist_email"))
		for _, addr := range v {
			if !caisse.ValidEmail(addr) {
				s.refuseProduct(w, r, http.StatusBadRequest, id, tr(lang, "%s was not saved: %q is not an email address. Write the artist's addresses alone, separated by commas, such as artist@example.com.", id, addr))
				return
			}
		}
		if len(v) > caisse.MaxArtistEmails {
			s.refuseProduct(w, r, http.StatusBadRequest, id, tr(lang, "%s was not saved: a work tells at most %d addresses of its sales.", id, caisse.MaxArtistEmails))
			return
		}
		u.ArtistEmail = &v
	}
	if form.Has("artist_share") {
		var share caisse.Percent
		if v := strings.TrimSpace(form.Get("artist_share")); v != "" {
			if share, err = caisse.ParsePercent(v); err != nil || share > 100*caisse.PercentUnit {
				s.refuseProduct(w, r, http.StatusBadRequest, id, tr(lang, "%s was not saved: the artist's share must be a percentage from 0 to 100, such as %s, not %q.", id, plainPercent(60*caisse.PercentUnit+caisse.PercentUnit/2, lang), v))
				return
			}
		}
		u.ArtistShare = &share
	}
	if form.Has("artist_locale") {
		v := strings.TrimSpace(form.Get("artist_locale"))
		u.ArtistLocale = &v
	}
	if _, err := s.Products.PutProduct(r.Context(), id, u); err != nil {
		switch caisse.ErrorCode(err) {
		case caisse.ECONFLICT:
			now := p.Stock
			if again, err := s.Products.FindProduct(r.Context(), id); err == nil {
				now = again.Stock
			}
			// The form keeps the stock typed, and now knows the stock as it
			// is: saving it again is a choice made knowing the sales.
			r.PostForm.Set("stock_was", strconv.FormatInt(now, 10))
			s.refuseProduct(w, r, http.StatusConflict, id, tr(lang, "%s was not saved: its stock changed while you edited it (sales or returns moved it), and is %d now. Check it and save again.", id, now))
		case caisse.EINVALID:
			s.refuseProduct(w, r, http.StatusBadRequest, id, tr(lang, "%s was not saved: %s", id, caisse.ErrorMessage(err)))
		default:
			s.pageError(w, r, err)
		}
		return
	}
	redirect(w, r, "/admin/products", "done", "saved")
}

// exampleAmount is an amount of currency to show as an example: 15.50,
// 1500 in a currency without decimals.
func exampleAmount(currency string) int64 {
	n := int64(1550)
	for range caisse.CurrencyExponent(currency) {
		n *= 10
	}
	return n / 100
}

// postImport previews a catalogue file's changes, or applies them once the
// owner confirms the preview (which carries the file back, so what is
// applied is what was previewed). The file is at most CAISSE_IMPORT_MAX
// (boundForms bounds the body), read from memory part by part.
func (s *Server) postImport(w http.ResponseWriter, r *http.Request) {
	lang := s.pageLanguage(r)
	var data []byte
	form := r.PostForm
	if mr, err := r.MultipartReader(); err == nil {
		// The upload of the products page: the file and the set_stock box.
		form = url.Values{}
		data, err = s.readUpload(mr, form)
		if err != nil {
			var tooBig *http.MaxBytesError
			var file fileTooLarge
			switch {
			case errors.As(err, &file):
				s.Logger.Warn("refused a catalogue file of the admin pages: it is too large", "limit", s.importMax(), "size", file.size)
				s.refuseImport(w, r, http.StatusRequestEntityTooLarge, "too_large", importTooLarge(lang, s.importMax(), file.size), nil)
			case errors.As(err, &tooBig):
				s.refuseTooLarge(w, r, s.importBodyMax(), -1)
			default:
				s.refuseImport(w, r, http.StatusBadRequest, caisse.EINVALID, tr(lang, "The file could not be read: choose it again."), nil)
			}
			return
		}
	}
	if encoded := form.Get("data"); data == nil && encoded != "" {
		var err error
		if data, err = base64.StdEncoding.DecodeString(encoded); err != nil {
			s.refuseImport(w, r, http.StatusBadRequest, caisse.EINVALID, tr(lang, "The previewed file did not come back intact: choose it again."), nil)
			return
		}
		if int64(len(data)) > s.importMax() {
			s.refuseImport(w, r, http.StatusRequestEntityTooLarge, "too_large", importTooLarge(lang, s.importMax(), int64(len(data))), nil)
			return
		}
	}
	if data == nil {
		s.refuseImport(w, r, http.StatusBadRequest, caisse.EINVALID, tr(lang, "Choose a catalogue file (CSV or JSON) to import."), nil)
		return
	}
	file, err := catalogue.Parse(data)
	if caisse.ErrorCode(err) == caisse.EINVALID {
		s.refuseImport(w, r, http.StatusBadRequest, caisse.EINVALID, tr(lang, "The file was not imported, and nothing was written: fix what follows and choose it again."),
			strings.Split(caisse.ErrorMessage(err), "\n"))
		return
	} else if err != nil {
		s.pageError(w, r, err)
		return
	}
	setStock := form.Get("set_stock") != ""
	apply := form.Get("apply") != ""
	changes, err := catalogue.Import(r.Context(), s.Products, file.Rows, catalogue.Options{SetStock: setStock, Preview: !apply,
		SetStockHow: tr(lang, "tick “set stock” to set it")})
	if code := caisse.ErrorCode(err); code == caisse.EINVALID || code == caisse.ECONFLICT {
		status := http.StatusBadRequest
		if code == caisse.ECONFLICT {
			status = http.StatusConflict
		}
		s.refuseImport(w, r, status, code, tr(lang, "The file was not imported, and nothing was written: fix what follows and choose it again."),
			strings.Split(caisse.ErrorMessage(err), "\n"))
		return
	} else if err != nil {
		s.pageError(w, r, err)
		return
	}
	if apply {
		s.Logger.Info("imported a catalogue from the admin pages", "products", len(changes), "set_stock", setStock)
		redirect(w, r, "/admin/products", "done", "imported", "n", len(changes))
		return
	}
	s.render(w, r, http.StatusOK, "import", map[string]any{"Changes": changes, "SetStock": setStock, "Ignored": file.Ignored,
		"Data": base64.StdEncoding.EncodeToString(data)}, "Import preview")
}

// refuseImport shows the products page again with status, and why its
// import form was refused: problem in the page's language, and the
// file's details (the lines to fix), counted under code as the API counts
// its errors.
func (s *Server) refuseImport(w http.ResponseWriter, r *http.Request, status int, code, problem string, details []string) {
	s.Logger.Info("refused a catalogue import of the admin pages", "code", code, "problems", len(details))
	s.Metrics.Errors.WithLabelValues(code).Inc()
	if status == http.StatusRequestEntityTooLarge {
		// What is left of the body is not read, as in refuseForm.
		w.Header().Set("Connection", "close")
	}
	s.renderProducts(w, r, status, &refusedForm{Problem: problem, Details: details})
}

// fileTooLarge is an uploaded catalogue file over CAISSE_IMPORT_MAX, of
// this size (-1 when it was too large to count).
type fileTooLarge struct{ size int64 }

func (e fileTooLarge) Error() string {
	return fmt.Sprintf("the catalogue file is over the import's bound (%d bytes)", e.size)
}

// readUpload reads the parts of the import's upload: the file, whole but
// at most CAISSE_IMPORT_MAX, and the small fields into form. It returns a
// nil file when none was chosen, and fileTooLarge for a file over the
// bound.
func (s *Server) readUpload(mr *multipart.Reader, form url.Values) ([]byte, error) {
	var data []byte
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return data, nil
		} else if err != nil {
			return nil, err
		}
		switch part.FormName() {
		case "file":
			if part.FileName() == "" {
				continue
			}
			var buf bytes.Buffer
			if _, err := io.Copy(&buf, io.LimitReader(part, s.importMax()+1)); err != nil {
				return nil, err
			}
			if int64(buf.Len()) > s.importMax() {
				// Count the rest, to say the file's size; the body's own
				// bound stops a file larger than the body may be.
				rest, err := io.Copy(io.Discard, part)
				if err != nil {
					return nil, fileTooLarge{size: -1}
				}
				return nil, fileTooLarge{size: int64(buf.Len()) + rest}
			}
			data = buf.Bytes()
			if data == nil {
				data = []byte{}
			}
		default:
			// The previewed file, carried back in base64, or a small field.
			limit := int64(formMax)
			if part.FormName() == "data" {
				limit = s.importBodyMax()
			}
			v, err := io.ReadAll(io.LimitReader(part, limit))
			if err != nil {
				return nil, err
			}
			form.Add(part.FormName(), string(v))
		}
	}
}

func (s *Server) pageDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := caisse.DeliveryFilter{Status: caisse.DeliveryStatus(q.Get("status")), Channel: caisse.Channel(q.Get("channel")),
		OrderID: strings.TrimSpace(q.Get("order")), Page: caisse.Page{Limit: pageSize, StartingAfter: q.Get("starting_after")}}
	data := map[string]any{"Filter": f, "Statuses": caisse.DeliveryStatuses, "Channels": caisse.Channels}
	deliveries, more, err := s.Deliveries.FindDeliveries(r.Context(), f)
	if caisse.ErrorCode(err) == caisse.EINVALID {
		data["Problem"] = caisse.ErrorMessage(err)
		s.render(w, r, http.StatusBadRequest, "deliveries", data, "Deliveries")
		return
	} else if err != nil {
		s.pageError(w, r, err)
		return
	}
	data["Deliveries"] = deliveries
	data["Back"] = r.URL.RequestURI()
	if more {
		data["Next"] = queryString("status", f.Status, "channel", f.Channel, "order", f.OrderID,
			"starting_after", deliveries[len(deliveries)-1].ID)
	}
	s.render(w, r, http.StatusOK, "deliveries", data, "Deliveries")
}

func (s *Server) postRetryDelivery(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Deliveries.RetryDelivery(r.Context(), r.PathValue("id")); err != nil {
		s.pageError(w, r, err)
		return
	}
	back, _, _ := strings.Cut(safeNext(r.PostFormValue("back")), "?")
	redirect(w, r, back, "done", "retried", "n", 1)
}

func (s *Server) postRetryFailed(w http.ResponseWriter, r *http.Request) {
	ids, err := s.Deliveries.RetryFailedDeliveries(r.Context())
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	redirect(w, r, "/admin/deliveries", "done", "retried", "n", len(ids))
}

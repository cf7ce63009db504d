package sanity_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/sanityfake"
	"github.com/caisse/caisse/sanity"
)

func newSender(t *testing.T, f *sanityfake.Server, edit func(*sanity.Config)) *sanity.Sender {
	t.Helper()
	cfg := sanity.Config{
		Project: f.Project, Dataset: f.Dataset, Token: f.Token,
		URL: f.URL, HTTPClient: f.Client(),
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := sanity.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func product(id string, stock int64) *caisse.Product {
	p := &caisse.Product{ID: id, Name: id, Price: 1500, Currency: "eur", Stock: stock}
	p.Fill()
	return p
}

func availability(id string, p *caisse.Product) caisse.Notice {
	return caisse.Notice{
		Delivery: caisse.Delivery{ID: id, Channel: caisse.ChannelSanity, Topic: caisse.TopicAvailability, Recipient: "sanity", ProductID: p.ID},
		Product:  p,
	}
}

func TestSendPatchesDocumentAndDraftByQuery(t *testing.T) {
	t.Parallel()
	f := sanityfake.New(t)
	f.AddDocument("art-1")
	f.AddDocument("drafts.art-1")
	f.AddDocument("art-2")
	if err := newSender(t, f, nil).Send(context.Background(), availability("dl_0001", product("art-1", 0))); err != nil {
		t.Fatalf("Send: %v", err)
	}
	posts := f.Received()
	if len(posts) != 1 {
		t.Fatalf("%d requests, want 1", len(posts))
	}
	p := posts[0]
	if p.Path != "/v2025-02-19/data/mutate/production" || p.RawQuery != "transactionId=dl_0001" {
		t.Errorf("request to %s?%s", p.Path, p.RawQuery)
	}
	if p.Auth != "Bearer "+f.Token || !strings.HasPrefix(p.ContentType, "application/json") {
		t.Errorf("Authorization %q, Content-Type %q", p.Auth, p.ContentType)
	}
	var got, want any
	_ = json.Unmarshal(p.Body, &got)
	_ = json.Unmarshal([]byte(`{"mutations":[{"patch":{"query":"*[_id in [$id, \"drafts.\" + $id]]","params":{"id":"art-1"},"set":{"isAvailable":false}}}]}`), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body = %s", p.Body)
	}
	for _, id := range []string{"art-1", "drafts.art-1"} {
		if d, _ := f.Document(id); d["isAvailable"] != false {
			t.Errorf("%s = %v, want isAvailable false", id, d)
		}
	}
	if d, _ := f.Document("art-2"); d["isAvailable"] != nil {
		t.Errorf("another document was changed: %v", d)
	}
}

func TestSendUsesSanityIDAndField(t *testing.T) {
	t.Parallel()
	f := sanityfake.New(t)
	f.AddDocument("product-print-2") // no draft: the patch still succeeds
	p := product("print-2", 3)
	p.SanityID = "product-print-2"
	s := newSender(t, f, func(c *sanity.Config) { c.Field = "inStock" })
	if err := s.Send(context.Background(), availability("dl_0002", p)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if d, _ := f.Document("product-print-2"); d["inStock"] != true {
		t.Errorf("document = %v, want inStock true", d)
	}
	if _, ok := f.Document("drafts.product-print-2"); ok {
		t.Errorf("a draft was created")
	}
}

// A refund restocks the last unit: the product is available again, and its
// documents say so.
func TestRefundMakesTheProductAvailableAgain(t *testing.T) {
	t.Parallel()
	f := sanityfake.New(t)
	f.AddDocument("art-1")
	f.AddDocument("drafts.art-1")
	s := newSender(t, f, nil)
	p := product("art-1", 0) // the last unit is sold
	if err := s.Send(context.Background(), availability("dl_sold", p)); err != nil {
		t.Fatal(err)
	}
	p = product("art-1", 1) // refunded in full: the unit is back
	if err := s.Send(context.Background(), availability("dl_refund", p)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"art-1", "drafts.art-1"} {
		h := f.Changes(id)
		if len(h) != 2 || h[0].Set["isAvailable"] != false || h[1].Set["isAvailable"] != true || h[1].TransactionID != "dl_refund" {
			t.Errorf("%s changed by %+v, want sold out then available again", id, h)
		}
	}
}

// An attempt whose answer is lost (the change was made) is sent again with
// the same transaction id: Sanity refuses it as a duplicate, and that is a
// delivery, not an error, and not a second change.
func TestSendAgainAfterALostAnswerIsDelivered(t *testing.T) {
	t.Parallel()
	f := sanityfake.New(t)
	f.AddDocument("art-1")
	s := newSender(t, f, nil)
	n := availability("dl_0003", product("art-1", 2))
	f.Fail(sanityfake.Fault{Status: http.StatusBadGateway, Body: "upstream connect error", AfterApply: true})
	err := s.Send(context.Background(), n)
	if de := caisse.AsDeliveryError(err); de == nil || de.Permanent {
		t.Fatalf("first Send = %v, want an error to retry", err)
	}
	if err := s.Send(context.Background(), n); err != nil {
		t.Fatalf("Send again = %v, want nil: the transaction was applied before", err)
	}
	if h := f.Changes("art-1"); len(h) != 1 {
		t.Errorf("document changed %d times, want once", len(h))
	}
}

// Deliveries of availability changes for several products, sent in a
// shuffled order while the products keep changing, some failing or answered
// too late, end with each document (and its draft) holding the product's
// final availability: each carries the product as it is when it is sent.
func TestDeliveriesInAnyOrderConverge(t *testing.T) {
	t.Parallel()
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			converge(t, rand.New(rand.NewPCG(seed, 0xca15e)))
		})
	}
}

func converge(t *testing.T, rng *rand.Rand) {
	f := sanityfake.New(t)
	s := newSender(t, f, nil)
	store := map[string]*caisse.Product{}
	docs := map[string][]string{} // product → its documents in Sanity
	for _, p := range []struct{ id, sanityID, draft string }{
		{"art-1", "", "drafts.art-1"},
		{"print-2", "product-print-2", "drafts.product-print-2"},
		{"tee-3", "", ""}, // never edited: no draft
		{"mug-4", "", "drafts.mug-4"},
	} {
		store[p.id] = product(p.id, 1)
		store[p.id].SanityID = p.sanityID
		doc := firstOf(p.sanityID, p.id)
		f.AddDocument(doc)
		docs[p.id] = []string{doc}
		if p.draft != "" {
			f.AddDocument(p.draft)
			docs[p.id] = append(docs[p.id], p.draft)
		}
	}
	ids := []string{"art-1", "print-2", "tee-3", "mug-4"}
	var pending []caisse.Delivery
	next := 0
	// sendOne sends a pending delivery with the product as it is now; a
	// failed one stays pending, as the dispatcher retries it later.
	sendOne := func(i int, faults bool) {
		d := pending[i]
		if faults && rng.IntN(4) == 0 {
			f.Fail([]sanityfake.Fault{
				{Status: 500, Body: `{"error":{"type":"internalError","description":"Internal error"}}`},
				{Status: 502, Body: "<html>Bad gateway</html>", AfterApply: true},
				{Status: 429, Body: `{"error":{"type":"rateLimited","description":"Rate limit exceeded"}}`},
				{Status: 503, Header: http.Header{"Retry-After": {"3"}}},
			}[rng.IntN(4)])
		}
		p := *store[d.ProductID]
		err := s.Send(context.Background(), caisse.Notice{Delivery: d, Product: &p})
		if err == nil {
			pending = slices.Delete(pending, i, i+1)
			return
		}
		if de := caisse.AsDeliveryError(err); de == nil || de.Permanent {
			t.Fatalf("Send %s = %v, want nil or an error to retry", d.ID, err)
		}
	}
	for range 120 {
		if len(pending) == 0 || rng.IntN(3) == 0 {
			// A sale, a checkout, a refund or a restock changes a product.
			p := store[ids[rng.IntN(len(ids))]]
			was := p.IsAvailable
			p.Stock = int64(rng.IntN(3))
			p.Fill()
			if p.IsAvailable != was {
				next++
				pending = append(pending, caisse.Delivery{ID: fmt.Sprintf("dl_%04d", next), Channel: caisse.ChannelSanity, Topic: caisse.TopicAvailability, ProductID: p.ID})
			}
			continue
		}
		sendOne(rng.IntN(len(pending)), true)
	}
	for tries := 0; len(pending) > 0; tries++ {
		if tries > 1000 {
			t.Fatalf("%d deliveries never went through", len(pending))
		}
		sendOne(rng.IntN(len(pending)), false)
	}
	for _, id := range ids {
		want := store[id].IsAvailable
		for _, doc := range docs[id] {
			d, _ := f.Document(doc)
			h := f.Changes(doc)
			if d["isAvailable"] != want || (len(h) > 0 && h[len(h)-1].Set["isAvailable"] != want) {
				t.Errorf("%s: document %s says %v (last change %+v), product is available: %v", id, doc, d["isAvailable"], h[max(len(h)-1, 0):], want)
			}
			seen := map[string]bool{}
			for _, c := range h {
				if seen[c.TransactionID] {
					t.Errorf("%s: transaction %s applied twice", doc, c.TransactionID)
				}
				seen[c.TransactionID] = true
			}
		}
	}
	if _, ok := f.Document("drafts.tee-3"); ok {
		t.Errorf("a draft was created for tee-3")
	}
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestSendAnswers(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		fault      *sanityfake.Fault
		edit       func(*sanity.Config)
		delivered  bool
		permanent  bool
		retryAfter time.Duration
		says       []string
	}{
		{name: "wrong token", edit: func(c *sanity.Config) { c.Token = "skSomeOtherToken987654321" }, permanent: true, says: []string{"CAISSE_SANITY_TOKEN", "Unauthorized - Session not found"}},
		{name: "token without write access", fault: &sanityfake.Fault{Status: 403, Body: `{"error":{"type":"mutationError","description":"Insufficient permissions; permission \"update\" required"}}`}, permanent: true, says: []string{"CAISSE_SANITY_TOKEN", "Insufficient permissions"}},
		{name: "unknown dataset", edit: func(c *sanity.Config) { c.Dataset = "staging" }, permanent: true, says: []string{"CAISSE_SANITY_PROJECT", "CAISSE_SANITY_DATASET", "staging"}},
		{name: "rate limited", fault: &sanityfake.Fault{Status: 429, Header: http.Header{"Retry-After": {"7"}}}, retryAfter: 7 * time.Second},
		{name: "rate limited without Retry-After", fault: &sanityfake.Fault{Status: 429, Body: `{"error":{"type":"rateLimited","description":"Rate limit exceeded"}}`}, says: []string{"Rate limit exceeded"}},
		{name: "unavailable until a date", fault: &sanityfake.Fault{Status: 503, Header: http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}}, retryAfter: 90 * time.Second},
		{name: "server error", fault: &sanityfake.Fault{Status: 500, Body: `{"error":{"type":"internalError","description":"Internal error"}}`}, says: []string{"internalError"}},
		{name: "bad request", fault: &sanityfake.Fault{Status: 400, Body: `{"error":{"type":"mutationError","description":"Mutation(s) failed with 1 error(s)","items":[{"error":{"type":"invalidPathError","description":"Invalid path"}}]}}`}, permanent: true, says: []string{"CAISSE_SANITY_FIELD", "Invalid path"}},
		{name: "other conflict", fault: &sanityfake.Fault{Status: 409, Body: `{"error":{"type":"mutationError","description":"Document \"art-1\" has unexpected revision ID"}}`}, says: []string{"unexpected revision"}},
		{name: "answer echoing the token", fault: &sanityfake.Fault{Status: 401, Body: `{"statusCode":401,"error":"Unauthorized","message":"bad token skFakeSanityToken0123456789"}`}, permanent: true, says: []string{"[secret]"}},
		{name: "redirect", fault: &sanityfake.Fault{Status: 307, Header: http.Header{"Location": {"https://elsewhere.example/"}}}, permanent: true, says: []string{"CAISSE_SANITY_URL"}},
		{name: "an answer that is not Sanity's", fault: &sanityfake.Fault{Status: 200, Body: "<html>Welcome</html>", AfterApply: true}, says: []string{"CAISSE_SANITY_URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := sanityfake.New(t)
			f.AddDocument("art-1")
			if tt.fault != nil {
				f.Fail(*tt.fault)
			}
			s := newSender(t, f, func(c *sanity.Config) {
				c.Now = func() time.Time { return now }
				if tt.edit != nil {
					tt.edit(c)
				}
			})
			err := s.Send(context.Background(), availability("dl_0004", product("art-1", 1)))
			if tt.delivered {
				if err != nil {
					t.Fatalf("Send = %v, want nil", err)
				}
				return
			}
			de := caisse.AsDeliveryError(err)
			if de == nil {
				t.Fatalf("Send = %v, want a *caisse.DeliveryError", err)
			}
			if de.Permanent != tt.permanent || de.RetryAfter != tt.retryAfter || de.Gone {
				t.Errorf("Send = %+v, want permanent %v, retry after %v", de, tt.permanent, tt.retryAfter)
			}
			for _, want := range tt.says {
				if !strings.Contains(de.Error(), want) {
					t.Errorf("message %q does not say %q", de.Error(), want)
				}
			}
			if strings.Contains(de.Error(), f.Token) {
				t.Errorf("message %q contains the token", de.Error())
			}
		})
	}
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, `{"transactionId":"dl_0005","results":[]}`)
	}))
	t.Cleanup(elsewhere.Close)
	f := sanityfake.New(t)
	f.Fail(sanityfake.Fault{Status: http.StatusPermanentRedirect, Header: http.Header{"Location": {elsewhere.URL + "/v2025-02-19/data/mutate/production"}}})
	s := newSender(t, f, func(c *sanity.Config) { c.HTTPClient = &http.Client{} })
	if err := s.Send(context.Background(), availability("dl_0005", product("art-1", 1))); err == nil {
		t.Fatalf("Send after a redirect = nil, want a failure")
	}
	elsewhere.Close()
	if hits.Load() != 0 {
		t.Errorf("the redirect was followed, with the token")
	}
}

func TestSendTestIsADryRun(t *testing.T) {
	t.Parallel()
	f := sanityfake.New(t)
	f.AddDocument("caisse-notify-test") // even if it existed, nothing changes
	test := caisse.Notice{Delivery: caisse.Delivery{Channel: caisse.ChannelSanity, Topic: caisse.TopicTest}}
	if err := newSender(t, f, nil).Send(context.Background(), test); err != nil {
		t.Fatalf("test Send: %v", err)
	}
	if h := f.Changes("caisse-notify-test"); len(h) != 0 {
		t.Errorf("the test changed a document: %+v", h)
	}
	if p := f.Received(); len(p) != 1 || !strings.Contains(p[0].RawQuery, "dryRun=true") {
		t.Errorf("test requests = %+v, want one dry run", p)
	}
	bad := newSender(t, f, func(c *sanity.Config) { c.Token = "skRevokedToken000000000" })
	err := bad.Send(context.Background(), test)
	if de := caisse.AsDeliveryError(err); de == nil || !de.Permanent || !strings.Contains(caisse.Fix(err), "set CAISSE_SANITY_TOKEN") {
		t.Errorf("test Send with a refused token = %v (fix %q), want a failure whose fix is to set CAISSE_SANITY_TOKEN", err, caisse.Fix(err))
	}
}

func TestSendRefusesWhatIsNotAnAvailability(t *testing.T) {
	t.Parallel()
	f := sanityfake.New(t)
	s := newSender(t, f, nil)
	for _, n := range []caisse.Notice{
		{Delivery: caisse.Delivery{ID: "dl_1", Topic: caisse.TopicOrderConfirmation}, Product: product("art-1", 1)},
		{Delivery: caisse.Delivery{ID: "dl_2", Topic: caisse.TopicAvailability}},
		{Delivery: caisse.Delivery{Topic: caisse.TopicAvailability}, Product: product("art-1", 1)},
	} {
		if de := caisse.AsDeliveryError(s.Send(context.Background(), n)); de == nil || !de.Permanent {
			t.Errorf("Send(%+v) = %v, want a permanent failure", n.Delivery, de)
		}
	}
	if p := f.Received(); len(p) != 0 {
		t.Errorf("%d requests sent", len(p))
	}
}

func TestSendInterrupted(t *testing.T) {
	t.Parallel()
	f := sanityfake.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := newSender(t, f, nil).Send(ctx, availability("dl_0006", product("art-1", 1)))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
}

// roundTrip answers requests without a network, recording them.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	var got string
	client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		got = r.URL.String()
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"transactionId":"dl_0007","results":[]}`)), Request: r}, nil
	})}
	s, err := sanity.New(sanity.Config{Project: "zp7mbokg", Dataset: "production", Token: "skToken0123456789", HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), availability("dl_0007", product("art-1", 1))); err != nil {
		t.Fatal(err)
	}
	if want := "https://zp7mbokg.api.sanity.io/v2025-02-19/data/mutate/production?transactionId=dl_0007"; got != want {
		t.Errorf("request to %s, want %s", got, want)
	}
}

func TestNewNamesEachVariableAtFault(t *testing.T) {
	t.Parallel()
	const token = "skSecretToken with space"
	_, err := sanity.New(sanity.Config{Project: "My Project", Dataset: "Prod!", Token: token, APIVersion: "latest", URL: "http://sanity.example.com", Field: "_id"})
	if err == nil {
		t.Fatal("New accepted a bad configuration")
	}
	for _, v := range []string{"CAISSE_SANITY_PROJECT", "CAISSE_SANITY_DATASET", "CAISSE_SANITY_TOKEN", "CAISSE_SANITY_API_VERSION", "CAISSE_SANITY_URL", "CAISSE_SANITY_FIELD"} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error does not name %s: %v", v, err)
		}
	}
	if strings.Contains(err.Error(), "skSecretToken") {
		t.Errorf("error quotes the token: %v", err)
	}
	if _, err := sanity.New(sanity.Config{Project: "zp7mbokg", Dataset: "production"}); err == nil || !strings.Contains(err.Error(), "CAISSE_SANITY_TOKEN") {
		t.Errorf("New without a token = %v", err)
	}
	if _, err := sanity.New(sanity.Config{Project: "zp7mbokg", Dataset: "production", Token: "skToken0123456789", APIVersion: "v2021-06-07"}); err != nil {
		t.Errorf("New refuses a version written with its v: %v", err)
	}
}

func TestPrintingHidesTheToken(t *testing.T) {
	t.Parallel()
	f := sanityfake.New(t)
	cfg := sanity.Config{Project: f.Project, Dataset: f.Dataset, Token: f.Token}
	s := newSender(t, f, nil)
	for _, v := range []any{cfg, &cfg, s} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, f.Token) {
				t.Errorf("%s prints the token: %s", verb, out)
			}
		}
	}
}

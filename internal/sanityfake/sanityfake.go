// Package sanityfake is a stand-in for Sanity's HTTP API for caisse's tests:
// a local server that answers as Sanity documents its mutate endpoint.
package sanityfake

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Server is a local Sanity HTTP API. It answers as Sanity's HTTP API
// documents its mutate endpoint:
// POST /v{version}/data/mutate/{dataset}[?transactionId=…&dryRun=true] with
// a bearer token and {"mutations":[…]}; patches select documents by a GROQ
// query with params and set fields on each; a transaction id may be used
// once in a dataset; success is {"transactionId","results"}; errors are
// {"error":{"type","description"}} from the Content Lake and
// {"statusCode","error","message"} from the gateway.
//
// It understands the two queries caisse sends, and nothing else of GROQ.
type Server struct {
	// URL is the server's base address (httptest).
	URL string
	// Project, Dataset, Token and Version are what it accepts: the project
	// it stands for, the one dataset it holds, the token it expects after
	// "Bearer ", and the API version in its paths.
	Project, Dataset, Token, Version string

	// Hold, when set before requests come, holds each answer to a mutation
	// until it is closed: the mutation is applied, and the client still
	// waits, as when the sender dies between sending and hearing back.
	Hold chan struct{}

	srv *httptest.Server

	mu      sync.Mutex
	docs    map[string]map[string]any // by _id
	history map[string][]Change       // by _id: the transactions that changed it, in order
	used    map[string]bool           // transaction ids applied
	faults  []Fault                   // answers to give instead of the usual, first first
	posts   []Request
}

// Change is one transaction's change of a document.
type Change struct {
	// TransactionID is the transaction's id, empty if the request gave none.
	TransactionID string
	// Set is the fields the transaction set.
	Set map[string]any
}

// Request is a request the server received.
type Request struct {
	// Path and RawQuery are the request's URL path and query.
	Path, RawQuery string
	// Auth and ContentType are its Authorization and Content-Type headers.
	Auth, ContentType string
	// Body is the request's body.
	Body []byte
}

// Fault is an answer the test wants instead of the usual one.
type Fault struct {
	// Status is the answer's status code.
	Status int
	// Header holds headers to add to the answer.
	Header http.Header
	// Body is the answer's body, written as is.
	Body string
	// AfterApply applies the transaction first: the change is made but its
	// answer is lost, as when a connection drops on the way back.
	AfterApply bool
}

// New starts a Server for project "zp7mbokg", dataset "production", API
// version "2025-02-19" and a fixed token; t.Cleanup closes it.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		Project: "zp7mbokg", Dataset: "production", Token: "skFakeSanityToken0123456789", Version: "2025-02-19",
		docs: map[string]map[string]any{}, history: map[string][]Change{}, used: map[string]bool{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Client returns the httptest server's client.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// AddDocument creates a document, as an editor would in the Studio.
func (s *Server) AddDocument(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[id] = map[string]any{"_id": id, "_type": "product"}
}

// SetHold sets Hold while the server runs: the answers to the mutations
// that come next wait until hold is closed.
func (s *Server) SetHold(hold chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Hold = hold
}

// Fail queues answers to give instead of the usual ones.
func (s *Server) Fail(faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, faults...)
}

// Document returns a copy of the fields of the document with this id, and
// whether it exists.
func (s *Server) Document(id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[id]
	return maps.Clone(d), ok
}

// Changes returns the transactions that changed the document with this id,
// in order.
func (s *Server) Changes(id string) []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Change(nil), s.history[id]...)
}

// Received returns the requests the server received, in order.
func (s *Server) Received() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.posts...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func lakeError(w http.ResponseWriter, status int, typ, description string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"type": typ, "description": description}})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.posts = append(s.posts, Request{r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body})

	prefix := "/v" + s.Version + "/data/mutate/"
	if !strings.HasPrefix(r.URL.Path, prefix) {
		writeJSON(w, http.StatusNotFound, map[string]any{"statusCode": 404, "error": "Not Found", "message": "Not Found"})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"statusCode": 401, "error": "Unauthorized", "message": "Session not found"})
		return
	}
	if ds := strings.TrimPrefix(r.URL.Path, prefix); ds != s.Dataset {
		lakeError(w, http.StatusNotFound, "httpNotFound", fmt.Sprintf("Dataset %q not found", ds))
		return
	}
	if r.Method != http.MethodPost {
		lakeError(w, http.StatusMethodNotAllowed, "httpMethodNotAllowed", "Method not allowed")
		return
	}
	var next *Fault
	if len(s.faults) > 0 {
		next = &s.faults[0]
		s.faults = s.faults[1:]
	}
	answer := func(ft *Fault) {
		for k, v := range ft.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(ft.Status)
		_, _ = io.WriteString(w, ft.Body)
	}
	if next != nil && !next.AfterApply {
		answer(next)
		return
	}

	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		lakeError(w, http.StatusBadRequest, "httpBadRequest", "Expected JSON body")
		return
	}
	var req struct {
		Mutations []struct {
			Patch *struct {
				Query  string         `json:"query"`
				Params map[string]any `json:"params"`
				Set    map[string]any `json:"set"`
			} `json:"patch"`
		} `json:"mutations"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || len(req.Mutations) == 0 {
		lakeError(w, http.StatusBadRequest, "httpBadRequest", "Invalid mutations body")
		return
	}
	tx := r.URL.Query().Get("transactionId")
	dry := r.URL.Query().Get("dryRun") == "true"
	if tx != "" && s.used[tx] {
		// Sanity's pages do not give the wording of this conflict; the fake
		// writes it as the Content Lake writes its other errors, naming the
		// transaction.
		lakeError(w, http.StatusConflict, "conflictError", fmt.Sprintf("The transaction ID %q already exists in this dataset", tx))
		return
	}
	type result struct {
		ID        string `json:"id"`
		Operation string `json:"operation"`
	}
	results := []result{}
	for _, m := range req.Mutations {
		if m.Patch == nil || m.Patch.Set == nil {
			lakeError(w, http.StatusBadRequest, "mutationError", "Unsupported mutation")
			return
		}
		id, _ := m.Patch.Params["id"].(string)
		var ids []string
		switch m.Patch.Query {
		case `*[_id in [$id, "drafts." + $id]]`:
			ids = []string{id, "drafts." + id}
		case `*[_id == $id]`:
			ids = []string{id}
		default:
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{
				"type": "queryParseError", "description": "unsupported query", "query": m.Patch.Query, "start": 0, "end": 1}})
			return
		}
		if id == "" {
			lakeError(w, http.StatusBadRequest, "queryParseError", "param $id referenced, but not provided")
			return
		}
		for _, docID := range ids {
			doc, ok := s.docs[docID]
			if !ok {
				continue // a query that matches no document patches nothing
			}
			results = append(results, result{docID, "update"})
			if dry {
				continue
			}
			for k, v := range m.Patch.Set {
				doc[k] = v
			}
			s.history[docID] = append(s.history[docID], Change{tx, m.Patch.Set})
		}
	}
	if tx != "" && !dry {
		s.used[tx] = true
	}
	if s.Hold != nil {
		s.mu.Unlock()
		<-s.Hold
		s.mu.Lock()
	}
	if next != nil {
		answer(next)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"transactionId": tx, "results": results})
}

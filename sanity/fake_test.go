package sanity_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeSanity answers as Sanity's HTTP API documents its mutate endpoint:
// POST /v{version}/data/mutate/{dataset}[?transactionId=…&dryRun=true] with
// a bearer token and {"mutations":[…]}; patches select documents by a GROQ
// query with params and set fields on each; a transaction id may be used
// once in a dataset; success is {"transactionId","results"}; errors are
// {"error":{"type","description"}} from the Content Lake and
// {"statusCode","error","message"} from the gateway.
//
// It understands the two queries caisse sends, and nothing else of GROQ.
type fakeSanity struct {
	srv                              *httptest.Server
	project, dataset, token, version string

	mu      sync.Mutex
	docs    map[string]map[string]any // by _id
	history map[string][]applied      // by _id: the transactions that changed it, in order
	used    map[string]bool           // transaction ids applied
	faults  []fault                   // answers to give instead of the usual, first first
	posts   []post
}

// applied is one transaction's change of a document.
type applied struct {
	tx  string
	set map[string]any
}

// post is a request the fake received.
type post struct {
	path, rawQuery, auth, contentType string
	body                              []byte
}

// fault is an answer the test wants instead of the usual one.
type fault struct {
	status int
	header http.Header
	body   string
	// afterApply applies the transaction first: the change is made but its
	// answer is lost, as when a connection drops on the way back.
	afterApply bool
}

func newFakeSanity(t *testing.T) *fakeSanity {
	t.Helper()
	f := &fakeSanity{
		project: "zp7mbokg", dataset: "production", token: "skFakeSanityToken0123456789", version: "2025-02-19",
		docs: map[string]map[string]any{}, history: map[string][]applied{}, used: map[string]bool{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// addDocument creates a document, as an editor would in the Studio.
func (f *fakeSanity) addDocument(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.docs[id] = map[string]any{"_id": id, "_type": "product"}
}

// fail queues answers to give instead of the usual ones.
func (f *fakeSanity) fail(faults ...fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, faults...)
}

func (f *fakeSanity) document(id string) (map[string]any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.docs[id]
	return d, ok
}

func (f *fakeSanity) changes(id string) []applied {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]applied(nil), f.history[id]...)
}

func (f *fakeSanity) received() []post {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]post(nil), f.posts...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func lakeError(w http.ResponseWriter, status int, typ, description string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"type": typ, "description": description}})
}

func (f *fakeSanity) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts = append(f.posts, post{r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body})

	prefix := "/v" + f.version + "/data/mutate/"
	if !strings.HasPrefix(r.URL.Path, prefix) {
		writeJSON(w, http.StatusNotFound, map[string]any{"statusCode": 404, "error": "Not Found", "message": "Not Found"})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"statusCode": 401, "error": "Unauthorized", "message": "Session not found"})
		return
	}
	if ds := strings.TrimPrefix(r.URL.Path, prefix); ds != f.dataset {
		lakeError(w, http.StatusNotFound, "httpNotFound", fmt.Sprintf("Dataset %q not found", ds))
		return
	}
	if r.Method != http.MethodPost {
		lakeError(w, http.StatusMethodNotAllowed, "httpMethodNotAllowed", "Method not allowed")
		return
	}
	var next *fault
	if len(f.faults) > 0 {
		next = &f.faults[0]
		f.faults = f.faults[1:]
	}
	answer := func(ft *fault) {
		for k, v := range ft.header {
			w.Header()[k] = v
		}
		w.WriteHeader(ft.status)
		_, _ = io.WriteString(w, ft.body)
	}
	if next != nil && !next.afterApply {
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
	if tx != "" && f.used[tx] {
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
			doc, ok := f.docs[docID]
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
			f.history[docID] = append(f.history[docID], applied{tx, m.Patch.Set})
		}
	}
	if tx != "" && !dry {
		f.used[tx] = true
	}
	if next != nil {
		answer(next)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"transactionId": tx, "results": results})
}

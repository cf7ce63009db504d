// Package sanity keeps a product's availability in the Sanity CMS: the
// shop's pages read it from the product's document, so a sold-out artwork
// stops being offered, and comes back when a refund restocks it.
//
// Each delivery sets the availability the product has when it is sent, not
// when the row was written, so deliveries sent in any order, or again after a
// crash, leave the document right. It talks to Sanity's HTTP API with
// net/http; the token is never in an error or a printed value.
//
// It must not carry anything but a product's availability.
package sanity

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/internal/outbound"
)

// Defaults of the optional settings.
const (
	// DefaultAPIVersion is the version of Sanity's HTTP API caisse speaks
	// (CAISSE_SANITY_API_VERSION).
	DefaultAPIVersion = "2025-02-19"
	// DefaultField is the boolean field set on a product's document
	// (CAISSE_SANITY_FIELD).
	DefaultField = "isAvailable"
)

// draftsQuery selects a product's published document and its draft, so an
// editor's unpublished draft does not bring the old availability back when it
// is published. A draft that does not exist matches nothing and fails nothing.
const draftsQuery = `*[_id in [$id, "drafts." + $id]]`

// testDocument is the id `caisse notify test` patches in a dry run: a
// document no shop has, so even a real run would change nothing.
const testDocument = "caisse-notify-test"

// Config is what a Sender needs, from CAISSE_SANITY_* variables.
type Config struct {
	// Project is the Sanity project's id (CAISSE_SANITY_PROJECT).
	Project string
	// Dataset is the dataset holding the product documents
	// (CAISSE_SANITY_DATASET), such as production.
	Dataset string
	// Token is an API token allowed to update documents
	// (CAISSE_SANITY_TOKEN): a secret.
	Token string
	// APIVersion is the HTTP API's version (CAISSE_SANITY_API_VERSION),
	// a date such as 2025-02-19; empty for DefaultAPIVersion.
	APIVersion string
	// URL is the API's base address (CAISSE_SANITY_URL); empty for
	// https://PROJECT.api.sanity.io. It must be https, except to this
	// machine (tests).
	URL string
	// Field is the boolean field set on each product's document
	// (CAISSE_SANITY_FIELD); empty for DefaultField.
	Field string
	// HTTPClient sends the requests; nil for one with a 15 s timeout.
	// Either way redirects are not followed.
	HTTPClient *http.Client
	// Now returns the current time, to read a Retry-After date; nil for
	// time.Now.
	Now func() time.Time
}

// String keeps the token out of a printed Config.
func (c Config) String() string {
	return fmt.Sprintf("sanity.Config{Project: %q, Dataset: %q, Token: [secret]}", c.Project, c.Dataset)
}

// GoString keeps the token out of a Config printed with %#v.
func (c Config) GoString() string { return c.String() }

// Sender sets products' availability in Sanity. It implements caisse.Sender
// for the sanity channel.
type Sender struct {
	project, dataset, version, field string
	base                             string // the API's address, without a trailing slash
	token                            string
	client                           *http.Client
	now                              func() time.Time
}

// String keeps the token out of a printed Sender.
func (s *Sender) String() string {
	return fmt.Sprintf("sanity.Sender{project: %q, dataset: %q, token: [secret]}", s.project, s.dataset)
}

// GoString keeps the token out of a Sender printed with %#v.
func (s *Sender) GoString() string { return s.String() }

var (
	projectID   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	datasetName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	fieldPath   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$`)
)

// New checks the configuration and returns a Sender. Its errors name the
// variables at fault, all of them at once, and never quote the token.
func New(cfg Config) (*Sender, error) {
	s := &Sender{
		project: strings.TrimSpace(cfg.Project),
		dataset: strings.TrimSpace(cfg.Dataset),
		version: strings.TrimPrefix(cmp.Or(strings.TrimSpace(cfg.APIVersion), DefaultAPIVersion), "v"),
		field:   cmp.Or(strings.TrimSpace(cfg.Field), DefaultField),
		token:   strings.TrimSpace(cfg.Token),
		now:     cfg.Now,
		client:  outbound.Client(cfg.HTTPClient),
	}
	if s.now == nil {
		s.now = time.Now
	}
	var errs []error
	if !projectID.MatchString(s.project) {
		errs = append(errs, errors.New("CAISSE_SANITY_PROJECT must be the project's id, lower-case letters and digits such as zp7mbokg, as sanity.io/manage shows it"))
	}
	if !datasetName.MatchString(s.dataset) {
		errs = append(errs, errors.New("CAISSE_SANITY_DATASET must be a dataset's name, such as production: lower-case letters, digits, _ and -, at most 64"))
	}
	switch {
	case s.token == "":
		errs = append(errs, caisse.WithFix(errors.New("CAISSE_SANITY_TOKEN is empty"), "create an API token with the Editor role in sanity.io/manage (API, Tokens) and set it"))
	case strings.ContainsFunc(s.token, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		errs = append(errs, caisse.WithFix(errors.New("CAISSE_SANITY_TOKEN contains spaces or control characters"), "set it to the token alone"))
	}
	if _, err := time.Parse(time.DateOnly, s.version); err != nil && s.version != "1" && s.version != "X" {
		errs = append(errs, errors.New("CAISSE_SANITY_API_VERSION must be a date such as "+DefaultAPIVersion+", or 1 or X"))
	}
	if !fieldPath.MatchString(s.field) {
		errs = append(errs, errors.New("CAISSE_SANITY_FIELD must be a field name such as isAvailable, or a path such as stock.available"))
	}
	base := strings.TrimSpace(cfg.URL)
	if base == "" && projectID.MatchString(s.project) {
		base = "https://" + s.project + ".api.sanity.io"
	}
	if base != "" {
		u, err := url.Parse(base)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.User != nil:
			errs = append(errs, errors.New("CAISSE_SANITY_URL must be a web address such as https://PROJECT.api.sanity.io, or unset"))
		case u.Scheme == "http" && !outbound.IsLoopback(u.Hostname()):
			errs = append(errs, errors.New("CAISSE_SANITY_URL must start with https://: over plain http anyone on the way could read the token"))
		}
		s.base = strings.TrimRight(base, "/")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// mutations is the body of Sanity's mutate endpoint.
type mutations struct {
	Mutations []mutation `json:"mutations"`
}

type mutation struct {
	Patch patch `json:"patch"`
}

// patch selects documents by a GROQ query and sets fields on each.
type patch struct {
	Query  string            `json:"query"`
	Params map[string]string `json:"params"`
	Set    map[string]bool   `json:"set"`
}

// mutateAnswer is Sanity's answer to a transaction it applied.
type mutateAnswer struct {
	TransactionID *string           `json:"transactionId"`
	Results       []json.RawMessage `json:"results"`
}

// Send sets the product's availability, as it is now, on its document and
// the document's draft. The delivery's ID is the transaction's id, so a
// transaction Sanity already applied is recognised when it is sent again.
// caisse.TopicTest sends a dry run instead, which changes nothing but proves
// the settings right.
func (s *Sender) Send(ctx context.Context, n caisse.Notice) error {
	switch n.Delivery.Topic {
	case caisse.TopicTest:
		return s.send(ctx, s.body(testDocument, true), url.Values{"dryRun": {"true"}}, "")
	case caisse.TopicAvailability:
	default:
		return caisse.Permanentf("Sanity takes product availability only, not %q: this is a fault in caisse", n.Delivery.Topic)
	}
	if n.Product == nil {
		return caisse.Permanentf("the availability update %s names no product: this is a fault in caisse", n.Delivery.ID)
	}
	if n.Delivery.ID == "" {
		return caisse.Permanentf("the availability update of %s has no id to make it a transaction: this is a fault in caisse", n.Product.ID)
	}
	doc := cmp.Or(n.Product.SanityID, n.Product.ID)
	return s.send(ctx, s.body(doc, n.Product.IsAvailable), url.Values{"transactionId": {n.Delivery.ID}}, n.Delivery.ID)
}

func (s *Sender) body(doc string, available bool) mutations {
	return mutations{Mutations: []mutation{{Patch: patch{
		Query:  draftsQuery,
		Params: map[string]string{"id": doc},
		Set:    map[string]bool{s.field: available},
	}}}}
}

// send posts a transaction; txID is its id, empty for a dry run.
func (s *Sender) send(ctx context.Context, m mutations, query url.Values, txID string) error {
	body, err := json.Marshal(m)
	if err != nil {
		return caisse.Permanentf("the update could not be written as JSON (%v): this is a fault in caisse", err)
	}
	endpoint := s.base + "/v" + s.version + "/data/mutate/" + url.PathEscape(s.dataset) + "?" + query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return caisse.Permanentf("Sanity's address cannot be used").Do("check CAISSE_SANITY_URL")
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("error sending availability to Sanity: interrupted: %w", ctx.Err())
		}
		return caisse.Retryf("could not reach Sanity (%s): caisse will try again", outbound.TransportCause(err, []string{s.token}))
	}
	answer := outbound.ReadAnswer(resp)
	return s.outcome(resp, answer, txID)
}

// outcome reads Sanity's answer: 2xx applied; 409 for a transaction id
// already used, applied before; 401 and 403 a token refused, 404 no such
// project or dataset; 429 and 503 come back later, as Retry-After says; other
// 5xx a failure on Sanity's side; other 4xx a request Sanity will not take.
func (s *Sender) outcome(resp *http.Response, answer []byte, txID string) error {
	code := resp.StatusCode
	said := describe(answer, []string{s.token})
	status := strings.TrimSpace(fmt.Sprintf("%d %s", code, said))
	switch {
	case code >= 200 && code < 300:
		var a mutateAnswer
		if err := json.Unmarshal(answer, &a); err != nil || (a.TransactionID == nil && a.Results == nil) ||
			(txID != "" && a.TransactionID != nil && *a.TransactionID != "" && *a.TransactionID != txID) {
			return caisse.Retryf("the answer to the update is not Sanity's (%s)", status).Do("check CAISSE_SANITY_URL, or leave it unset")
		}
		return nil
	case code == http.StatusConflict && txID != "" && transactionUsed(answer, txID):
		return nil
	case code >= 300 && code < 400:
		return caisse.Permanentf("Sanity's address answered %d, a redirect, which caisse does not follow", code).
			Do("check CAISSE_SANITY_URL, or leave it unset for https://" + s.project + ".api.sanity.io")
	case code == http.StatusUnauthorized:
		return caisse.Permanentf("Sanity does not accept the token (%s)", status).
			Do("set CAISSE_SANITY_TOKEN to an API token of project " + s.project + ", created in sanity.io/manage (API, Tokens)")
	case code == http.StatusForbidden:
		return caisse.Permanentf("Sanity does not let the token change documents in dataset %s (%s)", s.dataset, status).
			Do("give the token in CAISSE_SANITY_TOKEN the Editor role, or create one that has it")
	case code == http.StatusNotFound:
		return caisse.Permanentf("Sanity has no project %s with a dataset %s (%s)", s.project, s.dataset, status).
			Do("check CAISSE_SANITY_PROJECT and CAISSE_SANITY_DATASET")
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return &caisse.DeliveryError{
			Message:    fmt.Sprintf("Sanity asked caisse to slow down (%s): caisse will try again", status),
			RetryAfter: outbound.RetryAfter(resp.Header.Get("Retry-After"), s.now()),
			Wait:       true,
		}
	case code == http.StatusConflict:
		// Two changes of one document at once: the next attempt reads the
		// document anew.
		return caisse.Retryf("Sanity reports a conflicting change (%s): caisse will try again", status)
	case code >= 500 || code == http.StatusRequestTimeout:
		return caisse.Retryf("Sanity failed (%s): caisse will try again", status)
	case code == http.StatusBadRequest:
		return caisse.Permanentf("Sanity refused the update (%s)", status).
			Do(fmt.Sprintf("check CAISSE_SANITY_FIELD (%s) and CAISSE_SANITY_API_VERSION (%s)", s.field, s.version))
	}
	return caisse.Permanentf("Sanity refused the update (%s)", status)
}

// errorAnswer is an error as Sanity's API writes it: either the Content
// Lake's {"error":{"type","description","items"}} or the gateway's
// {"statusCode","error","message"}.
type errorAnswer struct {
	Error   json.RawMessage `json:"error"`
	Message string          `json:"message"`
}

type lakeError struct {
	Type        string `json:"type"`
	Description string `json:"description"`
	Items       []struct {
		Error struct {
			Type        string `json:"type"`
			Description string `json:"description"`
		} `json:"error"`
	} `json:"items"`
}

// readLakeError returns the Content Lake error in an answer, if it has one.
func readLakeError(answer []byte) (lakeError, bool) {
	var a errorAnswer
	var e lakeError
	if json.Unmarshal(answer, &a) != nil || len(a.Error) == 0 || a.Error[0] != '{' || json.Unmarshal(a.Error, &e) != nil {
		return e, false
	}
	return e, e.Description != "" || e.Type != ""
}

// describe says in a few words what an error answer says, safe to show.
func describe(answer []byte, secrets []string) string {
	if e, ok := readLakeError(answer); ok {
		parts := []string{strings.TrimSpace(e.Type + ": " + e.Description)}
		for _, item := range e.Items[:min(len(e.Items), 2)] {
			parts = append(parts, item.Error.Description)
		}
		return outbound.Snippet([]byte(strings.Join(parts, "; ")), secrets)
	}
	var a errorAnswer
	var label string
	if json.Unmarshal(answer, &a) == nil && json.Unmarshal(a.Error, &label) == nil && (label != "" || a.Message != "") {
		return outbound.Snippet([]byte(strings.TrimSpace(label+" - "+a.Message)), secrets)
	}
	return outbound.Snippet(answer, secrets)
}

// transactionUsed reports whether a 409 says that the transaction id was
// already used: the transaction was applied by an earlier attempt whose
// answer was lost. It asks for a Content Lake error about a transaction that
// names this one or says it already exists, so a 409 about anything else (two
// edits of one document at once) is not taken for a delivery.
func transactionUsed(answer []byte, txID string) bool {
	e, ok := readLakeError(answer)
	if !ok {
		return false
	}
	texts := []string{e.Type, e.Description}
	for _, item := range e.Items {
		texts = append(texts, item.Error.Type, item.Error.Description)
	}
	said := strings.Join(texts, " ")
	lower := strings.ToLower(said)
	if !strings.Contains(lower, "transaction") {
		return false
	}
	namesIt := len(txID) >= 8 && strings.Contains(said, txID)
	return namesIt || strings.Contains(lower, "already") || strings.Contains(lower, "exists")
}

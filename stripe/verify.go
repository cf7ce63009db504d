// Package stripe verifies Stripe webhook deliveries and decodes Stripe events
// into caisse's facts. It reads only the fields caisse needs from the raw JSON,
// so an account on any Stripe API version works.
//
// It must not apply an event or store anything: it answers what a delivery says,
// and the inbox decides what that does.
package stripe

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"
)

// MaxBodyBytes is the largest webhook body caisse accepts (1 MiB).
const MaxBodyBytes = 1 << 20

// Header is a parsed Stripe-Signature header: "t=…,v1=…,v1=…,v0=…".
type Header struct {
	// Timestamp is the t= value, Unix seconds.
	Timestamp int64
	// V1 are the v1 (HMAC-SHA256) signatures; more than one during rotation.
	V1 [][]byte
	// V0 counts the v0 signatures, which only Stripe's test helpers send.
	V0 int
}

// Reasons a delivery is refused, as logged and counted.
const (
	ReasonMissingSignature = "missing_signature"
	ReasonMalformedHeader  = "malformed_signature_header"
	ReasonNoV1Signature    = "no_v1_signature"
	ReasonStale            = "timestamp_too_old"
	ReasonFuture           = "timestamp_in_future"
	ReasonBadSignature     = "signature_mismatch"
)

// VerifyError says why a delivery failed verification, with what a shop owner
// needs to act on it. It never holds a secret or a signature.
type VerifyError struct {
	Reason string
	// Detail is a sentence for the log.
	Detail string
	// Skew is how far the signature's timestamp is from now (positive: in the past).
	Skew time.Duration
	// SecretsTried is how many configured secrets were checked.
	SecretsTried int
	// Signatures is how many v1 signatures the header carried.
	Signatures int
}

func (e *VerifyError) Error() string { return e.Detail }

// ParseHeader parses a Stripe-Signature header. Unknown schemes are skipped,
// as Stripe asks; v1 values that are not hex are skipped too.
func ParseHeader(h string) (Header, error) {
	var out Header
	h = strings.TrimSpace(h)
	if h == "" {
		return out, &VerifyError{Reason: ReasonMissingSignature, Detail: "the Stripe-Signature header is missing: is this request really from Stripe?"}
	}
	seenT := false
	for pair := range strings.SplitSeq(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return out, &VerifyError{Reason: ReasonMalformedHeader, Detail: "the Stripe-Signature header is malformed: each part must be key=value"}
		}
		switch k {
		case "t":
			ts, err := strconv.ParseInt(v, 10, 64)
			if err != nil || seenT || ts <= 0 {
				return out, &VerifyError{Reason: ReasonMalformedHeader, Detail: "the Stripe-Signature header has a missing, repeated or non-numeric timestamp t="}
			}
			out.Timestamp, seenT = ts, true
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != 32 {
				continue
			}
			out.V1 = append(out.V1, sig)
		case "v0":
			out.V0++
		}
	}
	if !seenT {
		return out, &VerifyError{Reason: ReasonMalformedHeader, Detail: "the Stripe-Signature header has no timestamp t="}
	}
	if len(out.V1) == 0 {
		return out, &VerifyError{Reason: ReasonNoV1Signature, Signatures: 0,
			Detail: fmt.Sprintf("the Stripe-Signature header has no v1 signature (%d v0): caisse only accepts v1 signatures", out.V0)}
	}
	return out, nil
}

// Verifier checks webhook deliveries against the configured signing secrets.
type Verifier struct {
	// Secrets are the endpoint's signing secrets (whsec_…); any may match, so a
	// secret can be rotated without refusing deliveries.
	Secrets []string
	// Tolerance is how far the signature's timestamp may be from now, in either
	// direction.
	Tolerance time.Duration
	// Now returns the current time.
	Now func() time.Time
}

// Verify checks a delivery's raw body against its Stripe-Signature header:
// the timestamp must be within the tolerance both ways, and one of the v1
// signatures must match one of the secrets. It returns a *VerifyError.
func (v *Verifier) Verify(payload []byte, header string) error {
	h, err := ParseHeader(header)
	if err != nil {
		return err
	}
	skew := v.Now().Sub(time.Unix(h.Timestamp, 0))
	if skew > v.Tolerance {
		return &VerifyError{Reason: ReasonStale, Skew: skew, Signatures: len(h.V1),
			Detail: fmt.Sprintf("the signature timestamp is %s old, beyond the %s tolerance: a replayed delivery, or this machine's clock is wrong", skew.Round(time.Second), v.Tolerance)}
	}
	if -skew > v.Tolerance {
		return &VerifyError{Reason: ReasonFuture, Skew: skew, Signatures: len(h.V1),
			Detail: fmt.Sprintf("the signature timestamp is %s in the future, beyond the %s tolerance: check this machine's clock", (-skew).Round(time.Second), v.Tolerance)}
	}
	for _, secret := range v.Secrets {
		// The timestamp was checked above against the injected clock, in both
		// directions; stripe-go checks the signatures.
		err := webhook.ValidatePayloadIgnoringTolerance(payload, header, secret)
		if err == nil {
			return nil
		}
		if !errors.Is(err, webhook.ErrNoValidSignature) {
			return &VerifyError{Reason: ReasonMalformedHeader, Detail: "the Stripe-Signature header could not be read"}
		}
	}
	return &VerifyError{Reason: ReasonBadSignature, Skew: skew, SecretsTried: len(v.Secrets), Signatures: len(h.V1),
		Detail: fmt.Sprintf("no v1 signature (of %d) matches any of the %d configured signing secrets: check STRIPE_WEBHOOK_SECRET is this endpoint's secret, or the body was altered on the way", len(h.V1), len(v.Secrets))}
}

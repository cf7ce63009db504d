package stripe

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"
)

const (
	testSecret      = "whsec_test_secret_0123456789abcdef"
	testOtherSecret = "whsec_other_secret_fedcba9876543210"
	testOldSecret   = "whsec_old_secret_aaaaaaaaaaaaaaaa"
)

var (
	testNow     = time.Unix(1_750_000_000, 0)
	testPayload = []byte(`{"id":"evt_1","object":"event","type":"checkout.session.completed","livemode":false,"created":1750000000,"data":{"object":{"id":"cs_1","object":"checkout.session"}}}`)
)

func signedHeader(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}

func v1(payload []byte, secret string, at time.Time) string {
	return hex.EncodeToString(webhook.ComputeSignature(at, payload, secret))
}

func TestVerify(t *testing.T) {
	t.Parallel()
	tolerance := 5 * time.Minute
	ts := func(at time.Time) string { return fmt.Sprintf("t=%d", at.Unix()) }
	tests := []struct {
		name       string
		secrets    []string
		payload    []byte
		header     string
		wantReason string // "" means accepted
		wantTried  int
		wantSigs   int
	}{
		{
			name:    "valid",
			secrets: []string{testSecret},
			header:  signedHeader(testPayload, testSecret, testNow),
		},
		{
			name:    "valid, signed a minute ago",
			secrets: []string{testSecret},
			header:  signedHeader(testPayload, testSecret, testNow.Add(-time.Minute)),
		},
		{
			name:    "valid, exactly at the tolerance",
			secrets: []string{testSecret},
			header:  signedHeader(testPayload, testSecret, testNow.Add(-tolerance)),
		},
		{
			name:    "two v1 signatures, only the second matches (rotation)",
			secrets: []string{testSecret},
			header: ts(testNow) + ",v1=" + v1(testPayload, testOldSecret, testNow) +
				",v1=" + v1(testPayload, testSecret, testNow),
		},
		{
			name:    "two configured secrets, only the second matches",
			secrets: []string{testOldSecret, testSecret},
			header:  signedHeader(testPayload, testSecret, testNow),
		},
		{
			name:    "unknown schemes and a v0 are skipped next to a good v1",
			secrets: []string{testSecret},
			header:  ts(testNow) + ",v0=" + v1(testPayload, testSecret, testNow) + ",v1=" + v1(testPayload, testSecret, testNow) + ",v9=zz",
		},
		{
			name:    "in the future but within tolerance",
			secrets: []string{testSecret},
			header:  signedHeader(testPayload, testSecret, testNow.Add(4*time.Minute)),
		},
		{
			name:       "v0 only",
			secrets:    []string{testSecret},
			header:     webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: testPayload, Secret: testSecret, Timestamp: testNow, Scheme: "v0"}).Header,
			wantReason: ReasonNoV1Signature,
		},
		{
			name:       "v1 not hex",
			secrets:    []string{testSecret},
			header:     ts(testNow) + ",v1=nothex",
			wantReason: ReasonNoV1Signature,
		},
		{
			name:       "missing header",
			secrets:    []string{testSecret},
			header:     "",
			wantReason: ReasonMissingSignature,
		},
		{
			name:       "blank header",
			secrets:    []string{testSecret},
			header:     "   ",
			wantReason: ReasonMissingSignature,
		},
		{
			name:       "garbage",
			secrets:    []string{testSecret},
			header:     "garbage",
			wantReason: ReasonMalformedHeader,
		},
		{
			name:       "non-numeric timestamp",
			secrets:    []string{testSecret},
			header:     "t=abc,v1=" + v1(testPayload, testSecret, testNow),
			wantReason: ReasonMalformedHeader,
		},
		{
			name:       "negative timestamp",
			secrets:    []string{testSecret},
			header:     "t=-5,v1=" + v1(testPayload, testSecret, testNow),
			wantReason: ReasonMalformedHeader,
		},
		{
			name:       "repeated timestamp",
			secrets:    []string{testSecret},
			header:     ts(testNow) + "," + ts(testNow) + ",v1=" + v1(testPayload, testSecret, testNow),
			wantReason: ReasonMalformedHeader,
		},
		{
			name:       "no timestamp",
			secrets:    []string{testSecret},
			header:     "v1=" + v1(testPayload, testSecret, testNow),
			wantReason: ReasonMalformedHeader,
		},
		{
			name:       "stale",
			secrets:    []string{testSecret},
			header:     signedHeader(testPayload, testSecret, testNow.Add(-tolerance-time.Second)),
			wantReason: ReasonStale,
			wantSigs:   1,
		},
		{
			name:       "an hour old",
			secrets:    []string{testSecret},
			header:     signedHeader(testPayload, testSecret, testNow.Add(-time.Hour)),
			wantReason: ReasonStale,
			wantSigs:   1,
		},
		{
			name:       "future beyond tolerance",
			secrets:    []string{testSecret},
			header:     signedHeader(testPayload, testSecret, testNow.Add(tolerance+time.Second)),
			wantReason: ReasonFuture,
			wantSigs:   1,
		},
		{
			name:       "tampered body, one secret",
			secrets:    []string{testSecret},
			payload:    []byte(strings.Replace(string(testPayload), "cs_1", "cs_2", 1)),
			header:     signedHeader(testPayload, testSecret, testNow),
			wantReason: ReasonBadSignature,
			wantTried:  1,
			wantSigs:   1,
		},
		{
			name:       "tampered body, three secrets",
			secrets:    []string{testOldSecret, testSecret, testOtherSecret},
			payload:    append([]byte(" "), testPayload...),
			header:     signedHeader(testPayload, testSecret, testNow),
			wantReason: ReasonBadSignature,
			wantTried:  3,
			wantSigs:   1,
		},
		{
			name:       "wrong secret",
			secrets:    []string{testSecret},
			header:     signedHeader(testPayload, testOtherSecret, testNow),
			wantReason: ReasonBadSignature,
			wantTried:  1,
			wantSigs:   1,
		},
		{
			name:       "signature for another timestamp",
			secrets:    []string{testSecret},
			header:     ts(testNow) + ",v1=" + v1(testPayload, testSecret, testNow.Add(-time.Second)),
			wantReason: ReasonBadSignature,
			wantTried:  1,
			wantSigs:   1,
		},
		{
			name:    "two signatures, none matches",
			secrets: []string{testSecret, testOtherSecret},
			header: ts(testNow) + ",v1=" + v1(testPayload, testOldSecret, testNow) +
				",v1=" + v1([]byte("other"), testSecret, testNow),
			wantReason: ReasonBadSignature,
			wantTried:  2,
			wantSigs:   2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			payload := tt.payload
			if payload == nil {
				payload = testPayload
			}
			v := &Verifier{Secrets: tt.secrets, Tolerance: tolerance, Now: func() time.Time { return testNow }}
			err := v.Verify(payload, tt.header)
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("Verify = %v (%T), want a *VerifyError with reason %s", err, err, tt.wantReason)
			}
			if ve.Reason != tt.wantReason {
				t.Errorf("Reason = %s, want %s (%s)", ve.Reason, tt.wantReason, ve.Detail)
			}
			if ve.SecretsTried != tt.wantTried {
				t.Errorf("SecretsTried = %d, want %d", ve.SecretsTried, tt.wantTried)
			}
			if ve.Signatures != tt.wantSigs {
				t.Errorf("Signatures = %d, want %d", ve.Signatures, tt.wantSigs)
			}
			if ve.Error() == "" {
				t.Error("Error() is empty")
			}
			for _, s := range append([]string{testSecret, testOtherSecret, testOldSecret}, tt.secrets...) {
				if strings.Contains(ve.Error(), s) || strings.Contains(ve.Detail, s) ||
					strings.Contains(ve.Error(), strings.TrimPrefix(s, "whsec_")) {
					t.Errorf("Error() %q contains a secret", ve.Error())
				}
			}
			if sig := v1(testPayload, testSecret, testNow); strings.Contains(ve.Error(), sig) {
				t.Errorf("Error() %q contains a signature", ve.Error())
			}
		})
	}
}

func TestVerifySkew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		offset time.Duration // signature time minus now
		reason string
	}{
		{"ten minutes old", -10 * time.Minute, ReasonStale},
		{"ten minutes ahead", 10 * time.Minute, ReasonFuture},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := &Verifier{Secrets: []string{testSecret}, Tolerance: 5 * time.Minute, Now: func() time.Time { return testNow }}
			err := v.Verify(testPayload, signedHeader(testPayload, testSecret, testNow.Add(tt.offset)))
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Reason != tt.reason {
				t.Fatalf("Verify = %v, want reason %s", err, tt.reason)
			}
			if ve.Skew != -tt.offset {
				t.Errorf("Skew = %s, want %s", ve.Skew, -tt.offset)
			}
			// A longer tolerance accepts the same delivery.
			v.Tolerance = 15 * time.Minute
			if err := v.Verify(testPayload, signedHeader(testPayload, testSecret, testNow.Add(tt.offset))); err != nil {
				t.Errorf("with 15m tolerance: %v", err)
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	t.Parallel()
	sig := v1(testPayload, testSecret, testNow)
	h, err := ParseHeader("t=1750000000,v1=" + sig + ",v1=" + v1(testPayload, testOldSecret, testNow) + ",v0=abc")
	if err != nil {
		t.Fatalf("ParseHeader: %v", err)
	}
	if h.Timestamp != 1750000000 || len(h.V1) != 2 || h.V0 != 1 || hex.EncodeToString(h.V1[0]) != sig {
		t.Errorf("ParseHeader = %+v", h)
	}
}

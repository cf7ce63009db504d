package stripe

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/caisse/caisse"
)

func FuzzParseHeader(f *testing.F) {
	for _, seed := range []string{
		"t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
		"t=1700000000,v1=aa,v1=bb,v0=cc", "", "garbage", "t=,v1=", "t=1,t=2,v1=00", "v1=00",
	} {
		f.Add(seed)
	}
	v := &Verifier{Secrets: []string{"whsec_fuzz"}, Tolerance: 5 * time.Minute, Now: func() time.Time { return time.Unix(1700000000, 0) }}
	f.Fuzz(func(t *testing.T, header string) {
		h, err := ParseHeader(header)
		if err == nil && (h.Timestamp <= 0 || len(h.V1) == 0) {
			t.Fatalf("accepted %q without a timestamp or a v1 signature", header)
		}
		// A header the fuzzer made up never verifies a payload.
		if v.Verify([]byte(`{"id":"evt_1"}`), header) == nil {
			t.Fatalf("a made-up header verified: %q", header)
		}
	})
}

func FuzzDecodeEvent(f *testing.F) {
	for _, typ := range caisse.HandledTypes {
		payload, err := Build(Example{Type: typ})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(payload)
	}
	f.Add([]byte(`{"object":"v2.core.event","id":"evt_1","created":"2024-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"id":"evt_1","object":"event","type":"charge.refunded","livemode":false,"data":{"object":{"id":"ch_1","payment_intent":{"id":"pi_1"}}}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		e, err := DecodeEvent(payload)
		if err != nil {
			return
		}
		if e.ID == "" || e.Type == "" || !bytes.Equal(e.Payload, payload) {
			t.Fatalf("decoded an event without id or type: %+v", e)
		}
		// The facts read on receipt are those read back from the body.
		sameDecoded(t, e)
		ef, err := Facts(e)
		if err != nil {
			// Every refusal says why to a person: none is an internal error.
			if caisse.ErrorCode(err) != caisse.EINVALID {
				t.Fatalf("Facts failed without a reason a person can act on: %v", err)
			}
			return
		}
		for _, fact := range ef.Facts {
			if fact.ID == "" || fact.Kind == "" {
				t.Fatalf("a fact without id or kind: %+v", fact)
			}
			// Whatever was signed, what caisse keeps is in range and storable.
			for _, amount := range []int64{fact.Amount, fact.AmountReceived, fact.AmountRefunded} {
				if amount < 0 || amount > caisse.MaxAmount {
					t.Fatalf("an amount out of range: %+v", fact)
				}
			}
			for _, s := range []string{fact.ID, fact.OrderRef, fact.PaymentIntent, fact.Charge, fact.Currency, fact.CustomerEmail, fact.PaymentError} {
				if strings.ContainsRune(s, 0) {
					t.Fatalf("a NUL would reach the database: %+v", fact)
				}
			}
			// Merging a fact with itself changes nothing.
			merged := fact
			merged.Merge(fact)
			if merged.ID != fact.ID || merged.AmountRefunded != fact.AmountRefunded || merged.DisputeStatus != fact.DisputeStatus {
				t.Fatalf("merge is not idempotent: %+v vs %+v", merged, fact)
			}
		}
	})
}

func FuzzVerifySigned(f *testing.F) {
	payload, _ := Build(Example{Type: "checkout.session.completed"})
	f.Add(payload, int64(0))
	f.Add([]byte("{}"), int64(-400))
	f.Fuzz(func(t *testing.T, payload []byte, offset int64) {
		now := time.Unix(1700000000, 0)
		at := now.Add(time.Duration(offset%3600) * time.Second)
		header := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: "whsec_a", Timestamp: at, Scheme: "v1"}).Header
		v := &Verifier{Secrets: []string{"whsec_b", "whsec_a"}, Tolerance: 5 * time.Minute, Now: func() time.Time { return now }}
		err := v.Verify(payload, header)
		within := at.Sub(now) <= 5*time.Minute && now.Sub(at) <= 5*time.Minute
		if within != (err == nil) {
			t.Fatalf("offset %ds: verify %v", offset%3600, err)
		}
		if err == nil && len(payload) > 0 && v.Verify(append(bytes.Clone(payload), 'x'), header) == nil {
			t.Fatal("a changed body verified")
		}
	})
}

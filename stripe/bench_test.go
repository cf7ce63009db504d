package stripe

import (
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"
)

// BenchmarkVerify measures checking one delivery's signature, the work of
// the webhook before anything is stored.
func BenchmarkVerify(b *testing.B) {
	payload, err := Build(Example{Type: "checkout.session.completed", OrderID: "o1"})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	secret := "whsec_bench"
	header := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: now, Scheme: "v1"}).Header
	v := &Verifier{Secrets: []string{"whsec_other", secret}, Tolerance: 5 * time.Minute, Now: func() time.Time { return now }}
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if err := v.Verify(payload, header); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecode measures reading an event's envelope and its facts, once
// on the webhook and once in the worker.
func BenchmarkDecode(b *testing.B) {
	for _, typ := range []string{"checkout.session.completed", "charge.refunded", "charge.dispute.created"} {
		b.Run(typ, func(b *testing.B) {
			payload, err := Build(Example{Type: typ, OrderID: "o1", Refunded: 100})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				e, err := DecodeEvent(payload)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Facts(e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

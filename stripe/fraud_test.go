package stripe

import (
	"reflect"
	"testing"

	"github.com/caisse/caisse"
)

// radar.early_fraud_warning.created decodes into a fact about the warning
// that names its charge and payment, so it links to the order they belong
// to whichever comes first; the issuer's fraud type is kept as a word.
func TestFactsEarlyFraudWarning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		object string
		want   caisse.Fact
	}{
		{
			name: "as Stripe sends it",
			object: `{"id":"issfr_1","object":"radar.early_fraud_warning","actionable":true,"charge":"ch_1",
				"created":1700000000,"fraud_type":"made_with_stolen_card","livemode":false,"payment_intent":"pi_1"}`,
			want: caisse.Fact{ID: "issfr_1", Kind: caisse.KindFraudWarning, Charge: "ch_1", PaymentIntent: "pi_1",
				FraudType: "made_with_stolen_card", Created: 1700000000},
		},
		{
			name: "expanded charge, no payment intent",
			object: `{"id":"issfr_2","object":"radar.early_fraud_warning","actionable":false,"charge":{"id":"ch_2","object":"charge"},
				"created":1700000001,"fraud_type":"card_never_received","livemode":false,"payment_intent":null}`,
			want: caisse.Fact{ID: "issfr_2", Kind: caisse.KindFraudWarning, Charge: "ch_2", FraudType: "card_never_received", Created: 1700000001},
		},
		{
			name:   "a fraud type that is not a word is left out",
			object: `{"id":"issfr_3","object":"radar.early_fraud_warning","charge":"ch_3","fraud_type":"two words\n","payment_intent":"pi_3"}`,
			want:   caisse.Fact{ID: "issfr_3", Kind: caisse.KindFraudWarning, Charge: "ch_3", PaymentIntent: "pi_3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ef, err := Facts(decodeTestEvent(t, "evt_1", "radar.early_fraud_warning.created", 1700000002, tt.object))
			if err != nil || ef.Ignored || len(ef.Facts) != 1 {
				t.Fatalf("Facts = %+v, %v", ef, err)
			}
			if !reflect.DeepEqual(ef.Facts[0], tt.want) {
				t.Errorf("fact\n%+v\nwant\n%+v", ef.Facts[0], tt.want)
			}
		})
	}
	refused := []string{
		`{"id":"issfr_4","object":"charge","charge":"ch_4"}`,
		`{"id":"issfr_5","object":"radar.early_fraud_warning","charge":42}`,
		`{"id":"issfr_6","object":"radar.early_fraud_warning","charge":"ch_6","payment_intent":["pi"]}`,
	}
	for _, obj := range refused {
		if ef, err := Facts(decodeTestEvent(t, "evt_1", "radar.early_fraud_warning.created", 1, obj)); err == nil {
			t.Errorf("Facts(%s) = %+v, want it refused", obj, ef)
		}
	}
	// The example caisse send --example builds decodes as such a warning.
	raw, err := Build(Example{Type: "radar.early_fraud_warning.created", OrderID: "o1", FraudType: "misc"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := DecodeEvent(raw)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := Facts(ev)
	if err != nil || len(ef.Facts) != 1 || ef.Facts[0].Charge != "ch_o1" || ef.Facts[0].PaymentIntent != "pi_o1" || ef.Facts[0].FraudType != "misc" {
		t.Errorf("the example's facts: %+v, %v", ef, err)
	}
}

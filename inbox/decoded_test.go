package inbox

import (
	"testing"

	"github.com/caisse/caisse"
)

// The facts read on receipt are applied only to the body they were read
// from: once a body is redacted (a customer forgotten), a replay reads it
// again, even when the facts were kept past their first claim.
func TestDecodedFactsOnlyForTheSameBody(t *testing.T) {
	t.Parallel()
	var d decoded
	f := &caisse.DecodedFacts{Facts: caisse.EventFacts{Facts: []caisse.Fact{{ID: "cs_1", CustomerEmail: "c@example.com"}}}}
	d.keep("evt_1", []byte(`{"email":"c@example.com"}`), f)
	if got := d.take("evt_1", []byte(`{"email":null}`)); got != nil {
		t.Errorf("facts of the body before its redaction: %+v", got)
	}
	if got := d.take("evt_1", []byte(`{"email":"c@example.com"}`)); got != nil {
		t.Errorf("taken twice: %+v", got)
	}
	d.keep("evt_2", []byte(`{"a":1}`), f)
	if got := d.take("evt_2", []byte(`{"a":1}`)); got != f {
		t.Errorf("the same body: %+v", got)
	}
}

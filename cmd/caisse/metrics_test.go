package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caisse/caisse"
)

// The processed-events counter has one type label per handled type, and
// "other" for the rest: a made-up type does not add a series.
func TestMetricsBoundTheEventType(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		a := setup(t, db)
		a.deliver([]byte(`{"id":"evt_cust","object":"event","type":"customer.created","created":1700000000,"livemode":false,"data":{"object":{"id":"cus_1","object":"customer"}}}`))
		a.deliver([]byte(`{"id":"evt_made_up","object":"event","type":"made.up.type_0001","created":1700000000,"livemode":false,"data":{"object":{"id":"x_1","object":"thing"}}}`))
		for id, s := range a.wait("evt_cust", "evt_made_up") {
			if s != caisse.EventIgnored {
				t.Fatalf("%s: %s, want ignored", id, s)
			}
		}
		res, err := http.Get(a.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		out := string(b)
		if !strings.Contains(out, `caisse_events_processed_total{status="ignored",type="other"} 2`) {
			t.Errorf("metrics lack the ignored events under type=\"other\":\n%s", out)
		}
		if strings.Contains(out, "customer.created") || strings.Contains(out, "made.up.type") {
			t.Errorf("metrics label a made-up event type:\n%s", out)
		}
	})
}

package caisse

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRecipientsRows(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	all := Recipients{
		Email:      true,
		Alerts:     []string{RecipientSlack, "team@shop.example"},
		Sanity:     true,
		Webhooks:   []string{"https://a.example/hook", "https://b.example/hook"},
		AlertDelay: 5 * time.Second,
		EmailDelay: 7 * time.Second,
	}
	tests := []struct {
		name       string
		recipients Recipients
		msg        OutboxMessage
		want       []OutboxRow // Message is filled in with &msg
	}{
		{
			name:       "customer email waits for the email delay",
			recipients: all,
			msg:        OutboxMessage{Key: "K", Channel: ChannelEmail, Topic: TopicOrderConfirmation},
			want:       []OutboxRow{{Key: "K", Status: DeliveryPending, Due: now.Add(7 * time.Second)}},
		},
		{
			name:       "artist email keeps its recipient",
			recipients: all,
			msg:        OutboxMessage{Key: "K", Channel: ChannelEmail, Topic: TopicArtistSale, Recipient: "artist@example.com"},
			want:       []OutboxRow{{Key: "K", Recipient: "artist@example.com", Status: DeliveryPending, Due: now.Add(7 * time.Second)}},
		},
		{
			name:       "email without SMTP is recorded as skipped, saying why",
			recipients: Recipients{EmailDelay: 7 * time.Second},
			msg:        OutboxMessage{Key: "K", Channel: ChannelEmail, Topic: TopicOrderConfirmation},
			want:       []OutboxRow{{Key: "K", Status: DeliverySkipped, LastError: NoSMTP, Due: now.Add(7 * time.Second)}},
		},
		{
			name:       "alert: one row per recipient, after the alert delay",
			recipients: all,
			msg:        OutboxMessage{Key: "K", Channel: ChannelAlert, Topic: TopicOversold},
			want: []OutboxRow{
				{Key: "K:slack", Recipient: RecipientSlack, Status: DeliveryPending, Due: now.Add(5 * time.Second)},
				{Key: "K:team@shop.example", Recipient: "team@shop.example", Status: DeliveryPending, Due: now.Add(5 * time.Second)},
			},
		},
		{
			name:       "alert without recipients is no row",
			recipients: Recipients{Email: true},
			msg:        OutboxMessage{Key: "K", Channel: ChannelAlert, Topic: TopicOversold},
		},
		{
			name:       "sanity",
			recipients: all,
			msg:        OutboxMessage{Key: "K", Channel: ChannelSanity, Topic: TopicAvailability, ProductID: "p1"},
			want:       []OutboxRow{{Key: "K", Recipient: "sanity", Status: DeliveryPending, Due: now}},
		},
		{
			name:       "sanity not set up is no row",
			recipients: Recipients{},
			msg:        OutboxMessage{Key: "K", Channel: ChannelSanity, Topic: TopicAvailability, ProductID: "p1"},
		},
		{
			name:       "webhook: one row per endpoint, at once",
			recipients: all,
			msg:        OutboxMessage{Key: "K", Channel: ChannelWebhook, Topic: "order.paid"},
			want: []OutboxRow{
				{Key: "K:https://a.example/hook", Recipient: "https://a.example/hook", Status: DeliveryPending, Due: now},
				{Key: "K:https://b.example/hook", Recipient: "https://b.example/hook", Status: DeliveryPending, Due: now},
			},
		},
		{
			name:       "webhook without endpoints is no row",
			recipients: Recipients{},
			msg:        OutboxMessage{Key: "K", Channel: ChannelWebhook, Topic: "order.paid"},
		},
		{
			name:       "stripe, whatever is set up",
			recipients: Recipients{},
			msg:        OutboxMessage{Key: "K", Channel: ChannelStripe, Topic: KindRefundOversold, OrderID: "ord_1"},
			want:       []OutboxRow{{Key: "K", Recipient: "stripe", Status: DeliveryPending, Due: now}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := tt.msg
			got, err := tt.recipients.Rows(now, &msg)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				tt.want[i].Message = &msg
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("rows:\n got %+v\nwant %+v", got, tt.want)
			}
			for _, r := range got {
				if r.Message != &msg {
					t.Errorf("row %s does not point to its message", r.Key)
				}
			}
		})
	}
}

func TestRecipientsRowsUnknownChannel(t *testing.T) {
	t.Parallel()
	rows, err := Recipients{Email: true}.Rows(time.Now(), &OutboxMessage{Key: "K", Channel: "fax"})
	if err == nil || !strings.Contains(err.Error(), `"fax"`) {
		t.Fatalf("got %v, %v; want an error naming the channel", rows, err)
	}
}

func TestDeliveryID(t *testing.T) {
	t.Parallel()
	a, b := DeliveryID("order:1:paid"), DeliveryID("order:1:paid:https://a.example/hook?x=1")
	if a != DeliveryID("order:1:paid") {
		t.Error("DeliveryID is not the same for one key")
	}
	if a == b {
		t.Error("two keys have one DeliveryID")
	}
	for _, id := range []string{a, b} {
		if !strings.HasPrefix(id, "dlv_") || len(id) != 4+24 || strings.Trim(id[4:], "0123456789abcdef") != "" {
			t.Errorf("DeliveryID %q is not dlv_ and 24 hex digits", id)
		}
	}
}

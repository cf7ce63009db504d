package main

import (
	"bytes"
	"fmt"
	"net/mail"
	"testing"
	"time"

	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/stripe"
)

// Two instances on one PostgreSQL database, and a mail server that takes
// three times CAISSE_RESCUE_AFTER to answer each message: each instance
// keeps the leases of the emails it sends alive, so neither takes over an
// email the other is still sending, and N orders give N confirmations.
// (Two instances never share a SQLite file: it has one writer.)
func TestTwoInstancesSendEachEmailOnce(t *testing.T) {
	t.Parallel()
	const lease = 2 * time.Second
	server := smtptest.Start(t, smtptest.Options{Delay: 3 * lease})
	env := func(env map[string]string) {
		env["CAISSE_SMTP_URL"] = server.URL("smtp", "", "")
		env["CAISSE_MAIL_FROM"] = "Galerie Lune <shop@lune.example>"
		env["CAISSE_RESCUE_AFTER"] = lease.String()
	}
	first := setup(t, postgresDB, env)
	second := setup(t, postgresDB, env, func(env map[string]string) {
		env["CAISSE_DATABASE_URL"] = first.env["CAISSE_DATABASE_URL"]
	})
	first.putPrice("tee-m", 2500, 100)
	const n = 12
	for i := range n {
		in := []*app{first, second}[i%2]
		in.send(stripe.Example{Type: "checkout.session.completed", OrderID: fmt.Sprintf("o_%02d", i), ProductID: "tee-m", Amount: 2500,
			Email: fmt.Sprintf("buyer%02d@example.com", i)})
	}
	first.waitProcessed(n)
	first.until("every confirmation delivered", func() bool {
		return len(first.deliveriesOf("channel=email&status=delivered")) == n && first.drained()
	})
	ids := map[string]int{}
	for _, m := range server.Messages() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		ids[msg.Header.Get("Message-ID")]++
	}
	for id, k := range ids {
		if k != 1 {
			t.Errorf("email %s sent %d times", id, k)
		}
	}
	if got := len(server.Messages()); got != n || len(ids) != n {
		t.Fatalf("%d orders, %d emails with %d Message-IDs: want one each", n, got, len(ids))
	}
}

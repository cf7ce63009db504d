package smtp_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/caisse/caisse/internal/smtptest"
	"github.com/caisse/caisse/smtp"
)

// Check signs in as a send would and sends nothing, over every kind of
// connection CAISSE_SMTP_URL can ask for.
func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		opts   smtptest.Options
		scheme string
	}{
		{"plain, no password", smtptest.Options{}, "smtp"},
		{"STARTTLS and AUTH", smtptest.Options{TLS: true, User: "shop", Password: "pw-0123"}, "smtp"},
		{"implicit TLS and AUTH", smtptest.Options{ImplicitTLS: true, User: "shop", Password: "pw-0123"}, "smtps"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms := smtptest.Start(t, tt.opts)
			s, err := smtp.New(smtp.Config{URL: ms.URL(tt.scheme, tt.opts.User, tt.opts.Password), From: "shop@lune.example",
				TLSConfig: smtptest.ClientTLSConfig(), Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Check(context.Background()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if tt.opts.User != "" {
				if got := ms.Auths(); len(got) != 1 || got[0] != "shop" {
					t.Errorf("AUTH attempts %q, want one as shop", got)
				}
			}
			if n := len(ms.Messages()); n != 0 {
				t.Errorf("Check sent %d messages", n)
			}
		})
	}
}

func TestCheckFailures(t *testing.T) {
	t.Parallel()
	const password = "wr0ng-passw0rd"
	authServer := smtptest.Start(t, smtptest.Options{TLS: true, User: "shop", Password: "right-password"})
	noTLSServer := smtptest.Start(t, smtptest.Options{User: "shop", Password: "pw"})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	for _, tt := range []struct {
		name    string
		url     string
		trusted bool
		want    []string
	}{
		{"wrong password", authServer.URL("smtp", "shop", password), true,
			[]string{"refused the user name \"shop\"", "CAISSE_SMTP_URL", "535", ": correct them"}},
		{"untrusted certificate", authServer.URL("smtp", "shop", password), false,
			[]string{"did not prove", "certificate"}},
		{"no STARTTLS", noTLSServer.URL("smtp", "shop", password), true,
			[]string{"does not offer STARTTLS", "smtps://"}},
		{"nothing listens", "smtp://" + down, true,
			[]string{"could not talk to the mail server at " + down, "check that the server is up"}},
		{"never answers", "smtp://" + silent.Addr().String(), true,
			[]string{"did not answer in time"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := smtp.Config{URL: tt.url, From: "shop@lune.example", Timeout: 5 * time.Second}
			if tt.trusted {
				cfg.TLSConfig = smtptest.ClientTLSConfig()
			}
			s, err := smtp.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			err = s.Check(ctx)
			if err == nil {
				t.Fatal("Check passed")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
	t.Cleanup(func() {
		if n := len(authServer.Messages()); n != 0 {
			t.Errorf("Check sent %d messages", n)
		}
	})
}

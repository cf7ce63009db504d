package smtp

import "testing"

func TestParseServer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want server
	}{
		{"smtp://user:pass@mail.example.com:587", server{host: "mail.example.com", port: 587, security: startTLS, user: "user", password: "pass"}},
		{"smtp://user:pass@mail.example.com", server{host: "mail.example.com", port: 587, security: startTLS, user: "user", password: "pass"}},
		{"smtp://user:pass@mail.example.com:25", server{host: "mail.example.com", port: 25, security: startTLS, user: "user", password: "pass"}},
		{"smtps://user:pass@mail.example.com:465", server{host: "mail.example.com", port: 465, security: implicitTLS, user: "user", password: "pass"}},
		{"smtps://user:pass@mail.example.com", server{host: "mail.example.com", port: 465, security: implicitTLS, user: "user", password: "pass"}},
		{"smtps://mail.example.com", server{host: "mail.example.com", port: 465, security: implicitTLS}},
		{"smtp://127.0.0.1:1025", server{host: "127.0.0.1", port: 1025, security: plainText}},
		{"smtp://relay.internal", server{host: "relay.internal", port: 25, security: plainText}},
		{"smtp://[::1]:1025/", server{host: "::1", port: 1025, security: plainText}},
		{" smtp://shop%40example.com:p%40ss%3Aw%2Ford@mail.example.com:587 ", server{host: "mail.example.com", port: 587, security: startTLS, user: "shop@example.com", password: "p@ss:w/ord"}},
	}
	for _, tt := range tests {
		got, err := parseServer(tt.url)
		if err != nil {
			t.Errorf("parseServer(%q): %v", tt.url, err)
			continue
		}
		if got != tt.want {
			t.Errorf("parseServer(%q) = %+v, want %+v", tt.url, got, tt.want)
		}
	}
}

func TestServerString(t *testing.T) {
	t.Parallel()
	s, err := parseServer("smtps://shop:s3cr3t@mail.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "smtps://shop@mail.example.com:465" {
		t.Errorf("String() = %q", got)
	}
}

func TestLanguage(t *testing.T) {
	t.Parallel()
	for locale, want := range map[string]string{
		"fr": "fr", "fr-FR": "fr", "fr_CA": "fr", "FR": "fr", "en": "en", "en-GB": "en", " en-US ": "en",
		"": "", "auto": "", "de": "", "es-419": "", "french": "",
	} {
		if got := language(locale); got != want {
			t.Errorf("language(%q) = %q, want %q", locale, got, want)
		}
	}
}

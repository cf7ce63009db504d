package http

import (
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	var l limiter
	limit := RateLimit{Burst: 2, Window: time.Minute}
	now := time.Unix(1_800_000_000, 0)
	for i, want := range []bool{true, true, false} {
		if ok, _ := l.allow("a", limit, now); ok != want {
			t.Fatalf("request %d: allowed %t, want %t", i+1, ok, want)
		}
	}
	if ok, wait := l.allow("a", limit, now); ok || wait <= 0 || wait > 30*time.Second {
		t.Fatalf("empty bucket: allowed %t, wait %s; want refused, a token back within 30s", ok, wait)
	}
	if ok, _ := l.allow("b", limit, now); !ok {
		t.Fatal("another client shares the first one's bucket")
	}
	if ok, _ := l.allow("a", limit, now.Add(30*time.Second)); !ok {
		t.Fatal("a token should be back after Window/Burst")
	}
	if ok, _ := l.allow("a", RateLimit{}, now); !ok {
		t.Fatal("a zero limit must allow everything")
	}
}

func TestClientOf(t *testing.T) {
	t.Parallel()
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	proxies := append(loopback, netip.MustParsePrefix("10.0.0.0/8"))
	tests := []struct {
		name, remote, xff string
		trusted           []netip.Prefix
		want              string
	}{
		{"direct client", "203.0.113.9:5555", "", loopback, "203.0.113.9"},
		{"a direct client's forged header is not believed", "203.0.113.9:5555", "198.51.100.1", loopback, "203.0.113.9"},
		{"through a local proxy", "127.0.0.1:5555", "198.51.100.1", loopback, "198.51.100.1"},
		{"through two proxies, the client's own header is not believed", "127.0.0.1:5555", "1.2.3.4, 198.51.100.1, 10.0.0.2", proxies, "198.51.100.1"},
		{"a local proxy with no header", "127.0.0.1:5555", "", loopback, "127.0.0.1"},
		{"an IPv6 client is its /64", "[2001:db8:1:2:3:4:5:6]:443", "", loopback, "2001:db8:1:2::/64"},
		{"garbage in the header stops the walk", "127.0.0.1:5555", "nonsense", loopback, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("POST", "/api/checkout", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := clientOf(r, tt.trusted); got != tt.want {
				t.Errorf("clientOf = %q, want %q", got, tt.want)
			}
		})
	}
}

package http

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// RateLimit is how many requests one client may make in a window: a bucket
// of Burst tokens, refilled at Burst per Window. A zero Burst turns it off.
type RateLimit struct {
	Burst  int
	Window time.Duration
}

// limiter keeps one token bucket per client.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxClients bounds the buckets kept: past it, the buckets of clients that
// have refilled entirely (idle ones) are forgotten.
const maxClients = 10_000

// allow takes a token from the client's bucket, and says how long until one
// is back when there is none.
func (l *limiter) allow(client string, limit RateLimit, now time.Time) (bool, time.Duration) {
	if limit.Burst <= 0 || limit.Window <= 0 {
		return true, 0
	}
	perToken := limit.Window / time.Duration(limit.Burst)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	refill := func(b *bucket) {
		b.tokens = min(float64(limit.Burst), b.tokens+float64(now.Sub(b.last))/float64(perToken))
		b.last = now
	}
	b, ok := l.buckets[client]
	if !ok {
		if len(l.buckets) >= maxClients {
			for k, other := range l.buckets {
				if refill(other); other.tokens >= float64(limit.Burst) {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{tokens: float64(limit.Burst), last: now}
		l.buckets[client] = b
	}
	refill(b)
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(perToken))
	}
	b.tokens--
	return true, 0
}

// blocked reports whether the client's bucket is empty, and how long until
// a token is back, without taking one.
func (l *limiter) blocked(client string, limit RateLimit, now time.Time) (bool, time.Duration) {
	if limit.Burst <= 0 || limit.Window <= 0 {
		return false, 0
	}
	perToken := limit.Window / time.Duration(limit.Burst)
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[client]
	if !ok {
		return false, 0
	}
	tokens := min(float64(limit.Burst), b.tokens+float64(now.Sub(b.last))/float64(perToken))
	if tokens < 1 {
		return true, time.Duration((1 - tokens) * float64(perToken))
	}
	return false, 0
}

// clientOf names the client a request comes from, for rate limits: its
// address as clientAddr finds it. An IPv6 client is its /64, which one
// client usually has whole.
func clientOf(r *http.Request, trusted []netip.Prefix) string {
	addr, _ := clientAddr(r, trusted)
	if !addr.IsValid() {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		return host
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// clientAddr is the address of the client a request comes from: its
// peer's, or, when the peer is one of the trusted proxies, the last address
// in X-Forwarded-For that is not a trusted proxy. read is false when the
// peer's address does not parse (the address is then invalid), or when
// X-Forwarded-For has an address caisse cannot read before it names a
// client that is not a trusted proxy (the address is then the last one
// read).
func clientAddr(r *http.Request, trusted []netip.Prefix) (addr netip.Addr, read bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err = netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	addr = addr.Unmap()
	if !isTrusted(addr, trusted) {
		return addr, true
	}
	forwarded := strings.Join(r.Header.Values("X-Forwarded-For"), ",")
	if forwarded == "" {
		return addr, true
	}
	hops := strings.Split(forwarded, ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr, false
		}
		addr = hop.Unmap()
		if !isTrusted(addr, trusted) {
			break
		}
	}
	return addr, true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

package http

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/caisse/caisse"
)

// requireMetricsAccess keeps /metrics from strangers: the figures tell how
// much the shop sells. With a metrics token set, every scrape needs it as a
// bearer token (Prometheus's authorization setting), compared in constant
// time; without one, only clients on this machine (loopback) are answered.
func (s *Server) requireMetricsAccess(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.MetricsToken != "" {
			token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(s.MetricsToken)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="caisse metrics"`)
				s.Error(w, r, caisse.Errorf(caisse.EUNAUTHORIZED,
					"send the metrics token as Authorization: Bearer <CAISSE_METRICS_TOKEN> (in Prometheus, the scrape job's authorization credentials)"))
				return
			}
		} else if !fromLoopback(r, s.TrustedProxies) {
			s.Error(w, r, caisse.Errorf(caisse.EFORBIDDEN,
				"/metrics answers only to this machine: to scrape it from elsewhere, set CAISSE_METRICS_TOKEN and give Prometheus that token (the scrape job's authorization credentials)"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// fromLoopback reports whether a request comes from a client on this
// machine. Its peer must be a loopback address; a request a proxy
// forwarded (X-Forwarded-For) is from loopback only if that proxy is
// trusted (CAISSE_TRUSTED_PROXIES) and the client it names, read as the
// rate limits read it, is a loopback address too: a reverse proxy on this
// machine serving the world does not make the world local. A request
// forwarded with headers caisse does not read (Forwarded, X-Real-IP) names
// a client caisse cannot check, so it is not from loopback either.
func fromLoopback(r *http.Request, trusted []netip.Prefix) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !peer.Unmap().IsLoopback() {
		return false
	}
	if r.Header.Get("Forwarded") != "" || r.Header.Get("X-Real-Ip") != "" {
		return false
	}
	if len(r.Header.Values("X-Forwarded-For")) == 0 {
		return true
	}
	if !isTrusted(peer.Unmap(), trusted) {
		return false
	}
	client, read := clientAddr(r, trusted)
	return read && client.IsLoopback()
}

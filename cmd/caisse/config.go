package main

import (
	"flag"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caisse/caisse"
	caissehttp "github.com/caisse/caisse/http"
)

// Config is caisse's configuration, read once from the environment (and, for
// serve, flags of the same meaning) and validated before anything starts.
type Config struct {
	// Addr is the listen address (CAISSE_ADDR).
	Addr string
	// DatabaseURL is sqlite:PATH or postgres://… (CAISSE_DATABASE_URL).
	DatabaseURL string
	// WebhookSecrets are the endpoint's signing secrets (STRIPE_WEBHOOK_SECRET, comma-separated).
	WebhookSecrets []string
	// SecretKey is the Stripe API key (STRIPE_SECRET_KEY).
	SecretKey string
	// APIURL is the Stripe API base (STRIPE_API_URL).
	APIURL string
	// AdminToken guards the admin API (CAISSE_ADMIN_TOKEN); empty turns it off.
	AdminToken string
	// Tolerance is the signature timestamp tolerance (CAISSE_TOLERANCE).
	Tolerance time.Duration
	// Livemode is "live", "test" or "" (CAISSE_LIVEMODE).
	Livemode string
	// RestockOnRefund puts fully refunded units back in stock (CAISSE_RESTOCK_ON_REFUND).
	RestockOnRefund bool
	// MaxAttempts is how many times an event is tried before it is a dead letter (CAISSE_MAX_ATTEMPTS).
	MaxAttempts int
	// Workers is how many events are processed at once (CAISSE_WORKERS).
	Workers int
	// RescueAfter is when a job left running by a lost process runs again (CAISSE_RESCUE_AFTER).
	RescueAfter time.Duration
	// CheckoutTTL is how long a checkout holds its units (CAISSE_CHECKOUT_TTL).
	CheckoutTTL time.Duration
	// CORSOrigins may call /api/checkout from a browser (CAISSE_CORS_ORIGINS).
	CORSOrigins []string
	// RefundOversold refunds oversold orders through Stripe (CAISSE_OVERSOLD_POLICY=refund).
	RefundOversold bool
	// ReconcileEvery is how often missed events are caught up (CAISSE_RECONCILE_EVERY).
	ReconcileEvery time.Duration
	// RefundMismatch refunds payments that do not pay their order (CAISSE_MISMATCH_POLICY=refund).
	RefundMismatch bool
	// CheckoutMaxUnits is the most units one checkout holds (CAISSE_CHECKOUT_MAX_UNITS).
	CheckoutMaxUnits int64
	// CheckoutRate bounds the checkouts one client opens (CAISSE_CHECKOUT_RATE).
	CheckoutRate caissehttp.RateLimit
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed (CAISSE_TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
}

// configVar ties a variable to its flag, its default and its parser.
type configVar struct {
	env, flag, def, usage string
	set                   func(c *Config, v string) error
}

// secretVars are the variables whose values are never shown: --help says
// only whether each is set.
var secretVars = []string{"STRIPE_WEBHOOK_SECRET", "STRIPE_SECRET_KEY", "CAISSE_ADMIN_TOKEN"}

// register registers v's flag on fs, with val (from the environment, else
// the default) as its default. --help, and the usage printed after a
// mistyped flag, show that default only if it is not secret: a database URL
// without its password, a secret not at all (only whether it is set).
func (v configVar) register(fs *flag.FlagSet, val *string) {
	usage := v.usage + " ($" + v.env + ")"
	if slices.Contains(secretVars, v.env) && *val != "" {
		usage = v.usage + " (set from $" + v.env + ")"
	}
	fs.StringVar(val, v.flag, *val, usage)
	f := fs.Lookup(v.flag)
	switch {
	case slices.Contains(secretVars, v.env):
		f.DefValue = ""
	case v.env == "CAISSE_DATABASE_URL":
		f.DefValue = redactURL(*val)
	}
}

var configVars = []configVar{
	{"CAISSE_ADDR", "addr", "127.0.0.1:8080", "listen address", func(c *Config, v string) error {
		if !strings.Contains(v, ":") {
			return fmt.Errorf("must be host:port, such as 127.0.0.1:8080")
		}
		c.Addr = v
		return nil
	}},
	{"CAISSE_DATABASE_URL", "database-url", "sqlite:caisse.db", "sqlite:PATH or postgres://…", func(c *Config, v string) error {
		if !strings.HasPrefix(v, "sqlite:") && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
			return fmt.Errorf("must start with sqlite: or postgres://")
		}
		c.DatabaseURL = v
		return nil
	}},
	{"STRIPE_WEBHOOK_SECRET", "webhook-secret", "", "signing secrets whsec_…, comma-separated", func(c *Config, v string) error {
		c.WebhookSecrets = nil
		for s := range strings.SplitSeq(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if !strings.HasPrefix(s, "whsec_") {
				return fmt.Errorf("each secret must start with whsec_ (copy it from the webhook endpoint in Stripe's dashboard)")
			}
			c.WebhookSecrets = append(c.WebhookSecrets, s)
		}
		return nil
	}},
	{"STRIPE_SECRET_KEY", "stripe-secret-key", "", "Stripe API key, for checkout, refunds and catch-up", func(c *Config, v string) error {
		if v != "" && !strings.HasPrefix(v, "sk_") && !strings.HasPrefix(v, "rk_") {
			return fmt.Errorf("must be a secret or restricted key (sk_… or rk_…)")
		}
		c.SecretKey = v
		return nil
	}},
	{"STRIPE_API_URL", "stripe-api-url", "", "Stripe API base URL", func(c *Config, v string) error {
		if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
			return fmt.Errorf("must be an http:// or https:// URL")
		}
		c.APIURL = v
		return nil
	}},
	{"CAISSE_ADMIN_TOKEN", "admin-token", "", "bearer token for /api/admin/* (admin off if empty)", func(c *Config, v string) error {
		if v != "" && len(v) < 16 {
			return fmt.Errorf("must be at least 16 characters, so it cannot be guessed")
		}
		c.AdminToken = v
		return nil
	}},
	{"CAISSE_TOLERANCE", "tolerance", "5m", "signature timestamp tolerance", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("must be a positive duration such as 5m")
		}
		c.Tolerance = d
		return nil
	}},
	{"CAISSE_LIVEMODE", "livemode", "", "live refuses test-mode events, test refuses live ones", func(c *Config, v string) error {
		if v != "" && v != "live" && v != "test" {
			return fmt.Errorf("must be live, test, or empty to accept both")
		}
		c.Livemode = v
		return nil
	}},
	{"CAISSE_RESTOCK_ON_REFUND", "restock-on-refund", "true", "put fully refunded units back in stock", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("must be true or false")
		}
		c.RestockOnRefund = b
		return nil
	}},
	{"CAISSE_MAX_ATTEMPTS", "max-attempts", "10", "processing attempts before an event is a dead letter", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return fmt.Errorf("must be a whole number from 1 to 100")
		}
		c.MaxAttempts = n
		return nil
	}},
	{"CAISSE_WORKERS", "workers", "", "events processed at once (default 2 on SQLite, 16 on PostgreSQL)", func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return fmt.Errorf("must be a whole number from 1 to 1000")
		}
		c.Workers = n
		return nil
	}},
	{"CAISSE_RESCUE_AFTER", "rescue-after", "1m", "when an event left running by a crashed instance is processed again", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			return fmt.Errorf("must be a duration of at least 1s, such as 1m")
		}
		c.RescueAfter = d
		return nil
	}},
	{"CAISSE_CHECKOUT_TTL", "checkout-ttl", "30m", "how long a checkout holds its units (at least 30m, Stripe's minimum)", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 30*time.Minute || d > 24*time.Hour {
			return fmt.Errorf("must be a duration from 30m to 24h (Stripe's limits for a Checkout Session), such as 30m")
		}
		c.CheckoutTTL = d
		return nil
	}},
	{"CAISSE_CORS_ORIGINS", "cors-origins", "", "web origins allowed to call /api/checkout, comma-separated, or *", func(c *Config, v string) error {
		c.CORSOrigins = nil
		for o := range strings.SplitSeq(v, ",") {
			o = strings.TrimRight(strings.TrimSpace(o), "/")
			if o == "" {
				continue
			}
			if o != "*" && !strings.HasPrefix(o, "https://") && !strings.HasPrefix(o, "http://") {
				return fmt.Errorf("each origin must be like https://shop.example, or * for any")
			}
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
		return nil
	}},
	{"CAISSE_OVERSOLD_POLICY", "oversold-policy", "flag", "flag, or refund to refund oversold orders through Stripe", func(c *Config, v string) error {
		switch v {
		case "flag":
			c.RefundOversold = false
		case "refund":
			c.RefundOversold = true
		default:
			return fmt.Errorf("must be flag (record and alert) or refund (also refund the payment through Stripe)")
		}
		return nil
	}},
	{"CAISSE_MISMATCH_POLICY", "mismatch-policy", "flag", "flag, or refund to refund payments that do not pay their order through Stripe", func(c *Config, v string) error {
		switch v {
		case "flag":
			c.RefundMismatch = false
		case "refund":
			c.RefundMismatch = true
		default:
			return fmt.Errorf("must be flag (record and alert) or refund (also refund the payment through Stripe)")
		}
		return nil
	}},
	{"CAISSE_CHECKOUT_MAX_UNITS", "checkout-max-units", "20", "the most units one checkout may hold", func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > caisse.MaxItemQuantity {
			return fmt.Errorf("must be a whole number from 1 to %d", caisse.MaxItemQuantity)
		}
		c.CheckoutMaxUnits = n
		return nil
	}},
	{"CAISSE_CHECKOUT_RATE", "checkout-rate", "10/10m", "checkouts one client may open: N/DURATION (N at once, N more per DURATION), or 0 for no limit", func(c *Config, v string) error {
		if v == "0" {
			c.CheckoutRate = caissehttp.RateLimit{}
			return nil
		}
		n, window, ok := strings.Cut(v, "/")
		burst, err := strconv.Atoi(n)
		d, derr := time.ParseDuration(window)
		if !ok || err != nil || derr != nil || burst < 1 || burst > 100_000 || d < time.Second {
			return fmt.Errorf("must be N/DURATION such as 10/10m (ten checkouts at once, ten more every ten minutes), or 0 for no limit")
		}
		c.CheckoutRate = caissehttp.RateLimit{Burst: burst, Window: d}
		return nil
	}},
	{"CAISSE_TRUSTED_PROXIES", "trusted-proxies", "127.0.0.0/8,::1", "reverse proxies whose X-Forwarded-For names the client: addresses or CIDR ranges, comma-separated", func(c *Config, v string) error {
		c.TrustedProxies = nil
		for p := range strings.SplitSeq(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			prefix, err := netip.ParsePrefix(p)
			if err != nil {
				addr, aerr := netip.ParseAddr(p)
				if aerr != nil {
					return fmt.Errorf("%q is not an address or a CIDR range such as 10.0.0.0/8", p)
				}
				prefix = netip.PrefixFrom(addr, addr.BitLen())
			}
			c.TrustedProxies = append(c.TrustedProxies, prefix.Masked())
		}
		return nil
	}},
	{"CAISSE_RECONCILE_EVERY", "reconcile-every", "", "how often to catch up on undelivered events through Stripe's API (default 15m with STRIPE_SECRET_KEY; 0 turns it off)", func(c *Config, v string) error {
		if v == "" {
			c.ReconcileEvery = -1 // the default: 15m when a secret key is set
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || (d != 0 && d < time.Minute) {
			return fmt.Errorf("must be a duration of at least 1m, such as 15m, or 0 to turn catching up off")
		}
		c.ReconcileEvery = d
		return nil
	}},
}

// LoadConfig reads the configuration from the environment, then from flags
// registered on fs (if fs is not nil, after fs.Parse). Each error names the
// variable.
func LoadConfig(getenv func(string) string, fs *flag.FlagSet, args []string) (Config, []string, error) {
	values := map[string]*string{}
	for _, v := range configVars {
		val := getenv(v.env)
		if val == "" {
			val = v.def
		}
		values[v.env] = &val
		if fs != nil {
			v.register(fs, &val)
		}
	}
	if fs != nil {
		if err := fs.Parse(args); err != nil {
			return Config{}, nil, err
		}
		args = fs.Args()
	}
	var c Config
	for _, v := range configVars {
		if err := v.set(&c, *values[v.env]); err != nil {
			return Config{}, nil, fmt.Errorf("%s (--%s): %w", v.env, v.flag, err)
		}
	}
	if c.ReconcileEvery < 0 {
		c.ReconcileEvery = 0
		if c.SecretKey != "" {
			c.ReconcileEvery = 15 * time.Minute
		}
	}
	if c.RefundOversold && c.SecretKey == "" {
		return Config{}, nil, fmt.Errorf("CAISSE_OVERSOLD_POLICY (--oversold-policy): refund needs STRIPE_SECRET_KEY, to ask Stripe for the refunds")
	}
	if c.RefundMismatch && c.SecretKey == "" {
		return Config{}, nil, fmt.Errorf("CAISSE_MISMATCH_POLICY (--mismatch-policy): refund needs STRIPE_SECRET_KEY, to ask Stripe for the refunds")
	}
	return c, args, nil
}

// SQLitePath returns the file of a sqlite: URL, and false for PostgreSQL.
func (c Config) SQLitePath() (string, bool) {
	path, ok := strings.CutPrefix(c.DatabaseURL, "sqlite:")
	return strings.TrimPrefix(path, "//"), ok
}

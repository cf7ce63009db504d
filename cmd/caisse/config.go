package main

import (
	"flag"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/caisse/caisse"
	"github.com/caisse/caisse/database"
	caissehttp "github.com/caisse/caisse/http"
	"github.com/caisse/caisse/internal/outbound"
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
	// AdminToken guards the admin API and pages (CAISSE_ADMIN_TOKEN); empty
	// turns them off.
	AdminToken string
	// PublicURL is the address people reach caisse at (CAISSE_PUBLIC_URL).
	PublicURL string
	// Tolerance is the signature timestamp tolerance (CAISSE_TOLERANCE).
	Tolerance time.Duration
	// Livemode is "live", "test" or "" (CAISSE_LIVEMODE).
	Livemode string
	// RestockOnRefund puts fully refunded units back in stock (CAISSE_RESTOCK_ON_REFUND).
	RestockOnRefund bool
	// MaxAttempts is how many times an event is tried before it is a dead letter (CAISSE_MAX_ATTEMPTS).
	MaxAttempts int
	// Workers is how many batches of events an instance applies at once (CAISSE_WORKERS).
	Workers int
	// RescueAfter is when work left by a lost process is taken up again (CAISSE_RESCUE_AFTER).
	RescueAfter time.Duration
	// Retention is how long the payloads of ignored events are kept (CAISSE_RETENTION).
	Retention time.Duration
	// CheckoutTTL is how long a checkout holds its units (CAISSE_CHECKOUT_TTL).
	CheckoutTTL time.Duration
	// CheckoutShipping is what the checkout asks for besides the payment
	// (CAISSE_SHIPPING_COUNTRIES, CAISSE_SHIPPING_RATES, CAISSE_COLLECT_PHONE).
	CheckoutShipping caisse.CheckoutShipping
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

	// ShopName is the shop's name in emails, alerts and pages (CAISSE_SHOP_NAME).
	ShopName string
	// Locale is the default language of customer emails, fr or en (CAISSE_LOCALE).
	Locale string
	// SMTPURL is the mail server (CAISSE_SMTP_URL); empty: no email.
	SMTPURL string
	// MailFrom is the sender of emails (CAISSE_MAIL_FROM).
	MailFrom string
	// Templates is a folder whose templates override the embedded ones (CAISSE_TEMPLATES).
	Templates string
	// AlertWebhookURL is a Slack-compatible incoming webhook for team alerts (CAISSE_ALERT_WEBHOOK_URL).
	AlertWebhookURL string
	// AlertEmails are the team's addresses for alerts (CAISSE_ALERT_EMAIL).
	AlertEmails []string
	// Sanity is the Sanity project whose documents mirror availability (CAISSE_SANITY_*).
	SanityProject, SanityDataset, SanityToken, SanityAPIVersion, SanityURL, SanityField string
	// NotifyURLs are the shop's own endpoints for outbound webhooks (CAISSE_NOTIFY_URLS).
	NotifyURLs []string
	// NotifySecret signs them (CAISSE_NOTIFY_SECRET).
	NotifySecret string
	// AlertSilence is how long without events, while checkouts are opened, before an alert (CAISSE_ALERT_SILENCE).
	AlertSilence time.Duration
	// OutboxRetention is how long delivered rows are kept (CAISSE_OUTBOX_RETENTION).
	OutboxRetention time.Duration
	// PersonalDataRetention is how long customers' personal data is kept
	// on an order, from its creation; 0 keeps it (CAISSE_PERSONAL_DATA_RETENTION).
	PersonalDataRetention time.Duration
	// ShopURL is the shop's own site, the way back in emails when no
	// checkout is open (CAISSE_SHOP_URL).
	ShopURL string
	// AddressWait is how long a customer email waits for an address before
	// it is skipped (CAISSE_ADDRESS_WAIT).
	AddressWait time.Duration
	// CheckoutKey is the bearer key of the shop's server on /api/checkout,
	// which then names each buyer with client_id (CAISSE_CHECKOUT_KEY).
	CheckoutKey string
	// RefundFraud refunds a payment a card issuer warned is fraud, before
	// it becomes a dispute (CAISSE_FRAUD_POLICY=refund).
	RefundFraud bool

	// ImportMax is the largest catalogue file the admin pages import, in
	// bytes (CAISSE_IMPORT_MAX).
	ImportMax int64
	// MetricsToken is the bearer token /metrics requires; unset, /metrics
	// answers loopback clients only (CAISSE_METRICS_TOKEN).
	MetricsToken string
	// TimeZone is the shop's, whose days the books count (CAISSE_TIMEZONE).
	TimeZone *time.Location
	// Accounts are the FEC export's account numbers (CAISSE_ACCOUNTS).
	Accounts caisse.Accounts
}

// BooksLive is the mode of the books shown unless another is asked for:
// the one CAISSE_LIVEMODE accepts, else the secret key's, else live.
func (c Config) BooksLive() bool {
	switch {
	case c.Livemode != "":
		return c.Livemode == "live"
	case c.SecretKey != "":
		return strings.HasPrefix(c.SecretKey, "sk_live_") || strings.HasPrefix(c.SecretKey, "rk_live_")
	}
	return true
}

// configVar ties a variable to its flag, its default and its parser.
type configVar struct {
	env, flag, def, usage string
	set                   func(c *Config, v string) error
}

// secretVars are the variables whose values are never shown: --help says
// only whether each is set.
var secretVars = []string{"STRIPE_WEBHOOK_SECRET", "STRIPE_SECRET_KEY", "CAISSE_ADMIN_TOKEN",
	"CAISSE_SMTP_URL", "CAISSE_ALERT_WEBHOOK_URL", "CAISSE_SANITY_TOKEN", "CAISSE_NOTIFY_URLS", "CAISSE_NOTIFY_SECRET",
	"CAISSE_CHECKOUT_KEY", "CAISSE_METRICS_TOKEN"}

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
		if _, err := database.ParseURL(v); err != nil {
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
			if placeholderSecret(s) {
				return fmt.Errorf("a secret is a placeholder from an example (such as whsec_… or whsec_xxx), not a signing secret: " +
					"copy the signing secret of the webhook endpoint that points at caisse (Stripe Dashboard → Developers → Webhooks → the endpoint → Signing secret), or the one `stripe listen` prints")
			}
			c.WebhookSecrets = append(c.WebhookSecrets, s)
		}
		return nil
	}},
	{"STRIPE_SECRET_KEY", "stripe-secret-key", "", "Stripe API key, for checkout, refunds, catch-up, fees and payouts", func(c *Config, v string) error {
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
	{"CAISSE_ADMIN_TOKEN", "admin-token", "", "token for /api/admin/* and the admin pages at /admin/ (both off if empty)", func(c *Config, v string) error {
		if v != "" && len(v) < 16 {
			return fmt.Errorf("must be at least 16 characters, so it cannot be guessed")
		}
		c.AdminToken = v
		return nil
	}},
	{"CAISSE_PUBLIC_URL", "public-url", "", "the address people reach caisse at, such as https://pay.example.com; https:// makes the admin session cookie Secure", func(c *Config, v string) error {
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("must be an http:// or https:// URL such as https://pay.example.com")
			}
		}
		c.PublicURL = strings.TrimSuffix(v, "/")
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
	{"CAISSE_MAX_ATTEMPTS", "max-attempts", "10", "attempts before an event is a dead letter (and before a refund caisse asks Stripe for fails for good)", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return fmt.Errorf("must be a whole number from 1 to 100")
		}
		c.MaxAttempts = n
		return nil
	}},
	{"CAISSE_WORKERS", "workers", "", "batches of events an instance applies at once on PostgreSQL (default 2; SQLite has one writer, so one)", func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 64 {
			return fmt.Errorf("must be a whole number from 1 to 64")
		}
		c.Workers = n
		return nil
	}},
	{"CAISSE_RESCUE_AFTER", "rescue-after", "1m", "when work left by a crashed instance (a batch of events, a delivery) is taken up by another", func(c *Config, v string) error {
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
	{"CAISSE_SHIPPING_COUNTRIES", "shipping-countries", "", "the checkout asks for a shipping address in these countries: ISO codes, comma-separated, such as FR,BE,CH", func(c *Config, v string) error {
		c.CheckoutShipping.Countries = nil
		for code := range strings.SplitSeq(v, ",") {
			code = strings.ToUpper(strings.TrimSpace(code))
			if code == "" {
				continue
			}
			if len(code) != 2 || strings.Trim(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
				return fmt.Errorf("%q is not a country code: write two-letter ISO codes, comma-separated, such as FR,BE,CH", code)
			}
			if !slices.Contains(c.CheckoutShipping.Countries, code) {
				c.CheckoutShipping.Countries = append(c.CheckoutShipping.Countries, code)
			}
		}
		return nil
	}},
	{"CAISSE_SHIPPING_RATES", "shipping-rates", "", "Stripe shipping rates (shr_…) the checkout offers, comma-separated, at most 5", func(c *Config, v string) error {
		c.CheckoutShipping.Rates = nil
		for id := range strings.SplitSeq(v, ",") {
			id = strings.TrimSpace(id)
			if id == "" {
				continue
			}
			if !strings.HasPrefix(id, "shr_") || len(id) > 255 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != "" {
				return fmt.Errorf("%q is not a shipping rate id: copy each rate's id (shr_…) from Stripe's Dashboard → Product catalogue → Shipping rates", id)
			}
			if !slices.Contains(c.CheckoutShipping.Rates, id) {
				c.CheckoutShipping.Rates = append(c.CheckoutShipping.Rates, id)
			}
		}
		if len(c.CheckoutShipping.Rates) > 5 {
			return fmt.Errorf("a checkout offers at most 5 shipping rates (Stripe's limit), and %d are set", len(c.CheckoutShipping.Rates))
		}
		return nil
	}},
	{"CAISSE_COLLECT_PHONE", "collect-phone", "false", "the checkout asks for a phone number (true or false)", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("must be true or false")
		}
		c.CheckoutShipping.Phone = b
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
	{"CAISSE_SHOP_NAME", "shop-name", "caisse", "the shop's name in emails, alerts and pages", func(c *Config, v string) error {
		v = strings.TrimSpace(v)
		if v == "" || len(v) > 100 || strings.ContainsFunc(v, unicode.IsControl) {
			return fmt.Errorf("must be a name of 1 to 100 characters, such as Galerie Dupont")
		}
		c.ShopName = v
		return nil
	}},
	{"CAISSE_LOCALE", "locale", "en", "default language of customer emails: fr or en (a session's locale wins)", func(c *Config, v string) error {
		if v != "fr" && v != "en" {
			return fmt.Errorf("must be fr or en")
		}
		c.Locale = v
		return nil
	}},
	{"CAISSE_SHOP_URL", "shop-url", "", "the shop's own site, such as https://galerie.example: the way back in a declined payment's email when no checkout is open", func(c *Config, v string) error {
		v = strings.TrimSpace(v)
		if v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
				return fmt.Errorf("must be an http:// or https:// address such as https://galerie.example")
			}
		}
		c.ShopURL = v
		return nil
	}},
	{"CAISSE_ADDRESS_WAIT", "address-wait", "1h", "how long a customer email waits for the customer's address (the events that bring it may come later) before it is recorded not sent", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 7*24*time.Hour {
			return fmt.Errorf("must be a duration from 1m to 168h, such as 1h")
		}
		c.AddressWait = d
		return nil
	}},
	{"CAISSE_SMTP_URL", "smtp-url", "", "mail server: smtp://user:pass@host:587 (STARTTLS), smtps://user:pass@host:465, or smtp://127.0.0.1:1025; unset: no email", func(c *Config, v string) error {
		if v != "" && !strings.HasPrefix(v, "smtp://") && !strings.HasPrefix(v, "smtps://") {
			return fmt.Errorf("must start with smtp:// or smtps://, such as smtp://user:password@mail.example.com:587")
		}
		c.SMTPURL = v
		return nil
	}},
	{"CAISSE_MAIL_FROM", "mail-from", "", "sender of emails, such as 'Shop <shop@example.com>' (required with CAISSE_SMTP_URL)", func(c *Config, v string) error {
		c.MailFrom = strings.TrimSpace(v)
		return nil
	}},
	{"CAISSE_TEMPLATES", "templates", "", "a folder whose email templates override the embedded ones (same names)", func(c *Config, v string) error {
		c.Templates = v
		return nil
	}},
	{"CAISSE_ALERT_WEBHOOK_URL", "alert-webhook-url", "", "Slack-compatible incoming webhook for team alerts (Discord's /slack URL works)", func(c *Config, v string) error {
		c.AlertWebhookURL = strings.TrimSpace(v)
		return nil
	}},
	{"CAISSE_ALERT_EMAIL", "alert-email", "", "team addresses for alerts, comma-separated (needs CAISSE_SMTP_URL)", func(c *Config, v string) error {
		c.AlertEmails = nil
		for a := range strings.SplitSeq(v, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			if addr, err := mail.ParseAddress(a); err != nil || addr.Address != a {
				return fmt.Errorf("%q is not an email address: write addresses alone, comma-separated, such as team@example.com", a)
			}
			if !slices.Contains(c.AlertEmails, a) {
				c.AlertEmails = append(c.AlertEmails, a)
			}
		}
		return nil
	}},
	{"CAISSE_SANITY_PROJECT", "sanity-project", "", "Sanity project whose product documents mirror availability; unset: no CMS sync", func(c *Config, v string) error {
		c.SanityProject = strings.TrimSpace(v)
		return nil
	}},
	{"CAISSE_SANITY_DATASET", "sanity-dataset", "", "Sanity dataset of the product documents, such as production", func(c *Config, v string) error {
		c.SanityDataset = strings.TrimSpace(v)
		return nil
	}},
	{"CAISSE_SANITY_TOKEN", "sanity-token", "", "Sanity API token allowed to update documents", func(c *Config, v string) error {
		c.SanityToken = strings.TrimSpace(v)
		return nil
	}},
	{"CAISSE_SANITY_API_VERSION", "sanity-api-version", "2025-02-19", "Sanity HTTP API version", func(c *Config, v string) error {
		c.SanityAPIVersion = strings.TrimSpace(v)
		return nil
	}},
	{"CAISSE_SANITY_URL", "sanity-url", "", "Sanity API base (default https://PROJECT.api.sanity.io)", func(c *Config, v string) error {
		c.SanityURL = strings.TrimSpace(v)
		return nil
	}},
	{"CAISSE_SANITY_FIELD", "sanity-field", "isAvailable", "boolean field set on the product's document", func(c *Config, v string) error {
		c.SanityField = strings.TrimSpace(v)
		return nil
	}},
	{"CAISSE_NOTIFY_URLS", "notify-urls", "", "the shop's own endpoints for outbound webhooks, comma-separated", func(c *Config, v string) error {
		c.NotifyURLs = nil
		for u := range strings.SplitSeq(v, ",") {
			if u = strings.TrimSpace(u); u != "" && !slices.Contains(c.NotifyURLs, u) {
				c.NotifyURLs = append(c.NotifyURLs, u)
			}
		}
		return nil
	}},
	{"CAISSE_NOTIFY_SECRET", "notify-secret", "", "Standard Webhooks secret whsec_<base64> that signs the outbound webhooks (required with CAISSE_NOTIFY_URLS)", func(c *Config, v string) error {
		c.NotifySecret = strings.TrimSpace(v)
		return nil
	}},
	{"CAISSE_ALERT_SILENCE", "alert-silence", "24h", "alert when no event arrives for this long while checkouts are opened (0: never)", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || (d != 0 && d < time.Minute) {
			return fmt.Errorf("must be a duration of at least 1m, such as 24h, or 0 to turn the alert off")
		}
		c.AlertSilence = d
		return nil
	}},
	{"CAISSE_RETENTION", "retention", "2160h", "how long the payloads of ignored events are kept; their ids are kept for ever, to recognise them (2160h is 90 days; 0: for ever)", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || (d != 0 && d < time.Hour) {
			return fmt.Errorf("must be a duration of at least 1h, such as 2160h (90 days), or 0 to keep every payload")
		}
		c.Retention = d
		return nil
	}},
	{"CAISSE_OUTBOX_RETENTION", "outbox-retention", "2160h", "how long delivered emails, alerts and webhooks are kept in the outbox (2160h is 90 days; 0: for ever)", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || (d != 0 && d < time.Hour) {
			return fmt.Errorf("must be a duration of at least 1h, such as 2160h (90 days), or 0 to keep every delivery")
		}
		c.OutboxRetention = d
		return nil
	}},
	{"CAISSE_TIMEZONE", "timezone", "UTC", "the shop's time zone, an IANA name such as Europe/Paris: the days of the dashboard's money, the report and the exports", func(c *Config, v string) error {
		if v == "" || strings.EqualFold(v, "local") {
			return fmt.Errorf("must be an IANA time zone name such as Europe/Paris or UTC")
		}
		loc, err := time.LoadLocation(v)
		if err != nil {
			return fmt.Errorf("%q is not a time zone caisse knows: use an IANA name such as Europe/Paris or UTC", v)
		}
		c.TimeZone = loc
		return nil
	}},
	{"CAISSE_ACCOUNTS", "accounts", "", "account numbers of the FEC export, key=number comma-separated over the defaults " + caisse.DefaultAccounts.String(), func(c *Config, v string) error {
		a, err := caisse.ParseAccounts(v)
		if err != nil {
			return err
		}
		c.Accounts = a
		return nil
	}},
	{"CAISSE_PERSONAL_DATA_RETENTION", "personal-data-retention", "", "erase customers' name, email, phone and addresses from orders older than this, amounts and statuses kept (such as 8760h, a year; unset: kept)", func(c *Config, v string) error {
		if v == "" {
			c.PersonalDataRetention = 0
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 24*time.Hour {
			return fmt.Errorf("must be a duration of at least 24h, such as 8760h (a year), or unset to keep personal data")
		}
		c.PersonalDataRetention = d
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
	{"CAISSE_CHECKOUT_KEY", "checkout-key", "", "bearer key of the shop's server calling /api/checkout, which then names each buyer with client_id and is limited per buyer (unset: per address only)", func(c *Config, v string) error {
		if v != "" && (len(v) < 24 || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f })) {
			return fmt.Errorf("must be at least 24 characters with no spaces, so it cannot be guessed, such as the output of openssl rand -hex 24")
		}
		c.CheckoutKey = v
		return nil
	}},
	{"CAISSE_FRAUD_POLICY", "fraud-policy", "flag", "on an early fraud warning: flag records and alerts; refund also refunds the payment through Stripe before it becomes a dispute", func(c *Config, v string) error {
		switch v {
		case "flag":
			c.RefundFraud = false
		case "refund":
			c.RefundFraud = true
		default:
			return fmt.Errorf("must be flag (record and alert) or refund (also refund the payment through Stripe before it becomes a dispute)")
		}
		return nil
	}},
	{"CAISSE_METRICS_TOKEN", "metrics-token", "", "bearer token /metrics requires (Prometheus's authorization setting); unset, /metrics answers only to this machine (loopback)", func(c *Config, v string) error {
		v = strings.TrimSpace(v)
		if v != "" && (len(v) < 16 || strings.ContainsFunc(v, unicode.IsSpace) || strings.ContainsFunc(v, unicode.IsControl)) {
			return fmt.Errorf("must be at least 16 characters without spaces, so it cannot be guessed")
		}
		c.MetricsToken = v
		return nil
	}},
	{"CAISSE_IMPORT_MAX", "import-max", "10MiB", "the largest catalogue file the admin pages import, such as 10MiB (caisse products import FILE has no limit)", func(c *Config, v string) error {
		n, err := parseSize(v)
		if err != nil || n < 64<<10 || n > 1<<30 {
			return fmt.Errorf("must be a size from 64KiB to 1GiB, such as 10MiB")
		}
		c.ImportMax = n
		return nil
	}},
}

// parseSize reads a number of bytes, alone or in KiB, MiB or GiB: 10MiB.
func parseSize(v string) (int64, error) {
	v = strings.TrimSpace(v)
	unit := int64(1)
	for suffix, u := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if n, ok := strings.CutSuffix(v, suffix); ok {
			v, unit = strings.TrimSpace(n), u
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/unit {
		return 0, fmt.Errorf("%q is not a size", v)
	}
	return n * unit, nil
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
			return Config{}, nil, flagParseError{err}
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
	if c.SMTPURL != "" && c.MailFrom == "" {
		return Config{}, nil, fmt.Errorf("CAISSE_MAIL_FROM (--mail-from): set the sender of emails, such as 'Shop <shop@example.com>', to send email with CAISSE_SMTP_URL")
	}
	if len(c.AlertEmails) > 0 && c.SMTPURL == "" {
		return Config{}, nil, fmt.Errorf("CAISSE_ALERT_EMAIL (--alert-email): alerts by email need a mail server: set CAISSE_SMTP_URL")
	}
	if len(c.NotifyURLs) > 0 && c.NotifySecret == "" {
		return Config{}, nil, fmt.Errorf("CAISSE_NOTIFY_SECRET (--notify-secret): set the whsec_… secret that signs the webhooks sent to CAISSE_NOTIFY_URLS")
	}
	if set := []bool{c.SanityProject != "", c.SanityDataset != "", c.SanityToken != ""}; slices.Contains(set, true) && slices.Contains(set, false) {
		return Config{}, nil, fmt.Errorf("CAISSE_SANITY_PROJECT, CAISSE_SANITY_DATASET and CAISSE_SANITY_TOKEN go together: set all three to keep availability in Sanity, or none")
	}
	if c.RefundMismatch && c.SecretKey == "" {
		return Config{}, nil, fmt.Errorf("CAISSE_MISMATCH_POLICY (--mismatch-policy): refund needs STRIPE_SECRET_KEY, to ask Stripe for the refunds")
	}
	if slices.Contains(c.WebhookSecrets, readmeSecret) {
		if why := c.notJustTrying(); why != "" {
			return Config{}, nil, fmt.Errorf("STRIPE_WEBHOOK_SECRET (--webhook-secret): the secret is the README's example, which anyone can read, and %s: "+
				"set the signing secret of the webhook endpoint that points at caisse (Stripe Dashboard → Developers → Webhooks → the endpoint → Signing secret)", why)
		}
	}
	if len(c.CheckoutShipping.Rates) > 0 && len(c.CheckoutShipping.Countries) == 0 {
		return Config{}, nil, fmt.Errorf("CAISSE_SHIPPING_RATES (--shipping-rates): shipping rates are offered with a shipping address: set CAISSE_SHIPPING_COUNTRIES to the countries you ship to, such as FR,BE")
	}
	if c.RefundFraud && c.SecretKey == "" {
		return Config{}, nil, fmt.Errorf("CAISSE_FRAUD_POLICY (--fraud-policy): refund needs STRIPE_SECRET_KEY, to ask Stripe for the refunds")
	}
	return c, args, nil
}

// readmeSecret is the webhook secret of the README's "Try it": anyone may
// sign events with it, so it is taken only while caisse is tried on this
// machine.
const readmeSecret = "whsec_local_secret"

// notJustTrying says why caisse is set up for more than a try on this
// machine (it listens beyond it, takes live events or holds a live key),
// or "".
func (c Config) notJustTrying() string {
	host, _, err := net.SplitHostPort(c.Addr)
	switch {
	case err != nil || !outbound.IsLoopback(host):
		return "caisse listens beyond this machine (CAISSE_ADDR " + c.Addr + ")"
	case c.Livemode == "live":
		return "CAISSE_LIVEMODE is live"
	case strings.HasPrefix(c.SecretKey, "sk_live_") || strings.HasPrefix(c.SecretKey, "rk_live_"):
		return "STRIPE_SECRET_KEY is a live key"
	}
	return ""
}

// placeholderSecret reports whether a webhook secret was copied from an
// example rather than from Stripe: whsec_…, whsec_..., whsec_xxx,
// whsec_<secret>, whsec_your_secret.
func placeholderSecret(s string) bool {
	rest := strings.ToLower(strings.TrimPrefix(s, "whsec_"))
	if rest == "" || strings.Trim(rest, "x._-") == "" || strings.ContainsAny(rest, "…<>{}[]*$ ") || strings.Contains(rest, "...") {
		return true
	}
	for _, word := range []string{"your", "placeholder", "changeme", "change_me", "replace", "example", "todo", "redacted"} {
		if strings.Contains(rest, word) {
			return true
		}
	}
	return false
}

// SQLitePath returns the file of a sqlite: URL, and false for PostgreSQL.
func (c Config) SQLitePath() (string, bool) {
	u, err := database.ParseURL(c.DatabaseURL)
	return u.Path, err == nil && u.Kind == database.SQLite
}

// flagParseError is a command line the flags could not read (the flag
// package has said why), as opposed to a setting that is wrong.
type flagParseError struct{ error }

func (e flagParseError) Unwrap() error { return e.error }

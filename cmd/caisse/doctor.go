package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caisse/caisse"
	caissehttp "github.com/caisse/caisse/http"
	"github.com/caisse/caisse/internal/outbound"
	"github.com/caisse/caisse/notify"
	"github.com/caisse/caisse/payments"
	"github.com/caisse/caisse/sanity"
	"github.com/caisse/caisse/slack"
	"github.com/caisse/caisse/smtp"
	"github.com/caisse/caisse/stripe"
)

// doctorTimeout bounds each check that goes over the network.
const doctorTimeout = 5 * time.Second

// doctorAbout is what caisse doctor --help says beside the flags.
const doctorAbout = `Checks what caisse needs, as the environment sets it up, and says what to do
about each problem: the webhook secret's format, the database (reachable,
migrated, writable), with STRIPE_SECRET_KEY the key, its mode and the webhook
endpoint in Stripe, and each notification channel that is set up (the mail
server signs caisse in and nothing is sent; the alert webhook and the shop's
webhooks are only reached, never posted to; Sanity gets a dry run). Each
network check gives up after 5s. Nothing secret is printed.

It exits 1 when a check fails, 0 when every check passed or was skipped.
--json prints [{"name","ok","skipped","detail","fix"}]: a skipped check has
ok false and skipped true; a passed check with a fix is a warning.`

// printDoctorHelp writes caisse doctor's help, shaped like the other
// commands': usage, about, flags, examples.
func printDoctorHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: caisse doctor [--json]\n\n%s\n\nflags:\n", doctorAbout)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprint(w, "\nexamples:\n  caisse doctor\n  caisse doctor --json | jq '.[] | select(.ok == false and .skipped == false)'\n")
}

// check is what one check of caisse doctor found.
type check struct {
	Name string `json:"name"`
	// OK is true when the check passed (possibly with a warning in Fix).
	OK bool `json:"ok"`
	// Skipped is true when there was nothing to check.
	Skipped bool `json:"skipped"`
	// Detail says what was found.
	Detail string `json:"detail"`
	// Fix says what to do, for a failure (or a warning).
	Fix string `json:"fix"`
}

func passed(name, detail string) check { return check{Name: name, OK: true, Detail: detail} }
func skipped(name, detail string) check {
	return check{Name: name, Skipped: true, Detail: detail}
}
func failed(name, detail, fix string) check { return check{Name: name, Detail: detail, Fix: fix} }

// failure reports whether the check failed.
func (c check) failure() bool { return !c.OK && !c.Skipped }

func (m *Main) doctor(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("caisse doctor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "print the checks as JSON")
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printDoctorHelp(m.Stdout, fs)
		return nil
	case err != nil || fs.NArg() > 0:
		if err != nil {
			fmt.Fprintf(m.Stderr, "caisse doctor: %v\n\n", err)
		}
		printDoctorHelp(m.Stderr, fs)
		return errUsage
	}
	d := newDoctor(m.Getenv)
	checks := d.run(ctx)
	failures := 0
	for i := range checks {
		checks[i].Name = outbound.Redact(checks[i].Name, d.secrets)
		checks[i].Detail = outbound.Redact(checks[i].Detail, d.secrets)
		checks[i].Fix = outbound.Redact(checks[i].Fix, d.secrets)
		if checks[i].failure() {
			failures++
		}
	}
	if *asJSON {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(checks); err != nil {
			return err
		}
	} else {
		skips := 0
		for _, c := range checks {
			mark := "✓"
			switch {
			case c.Skipped:
				mark = "–"
				skips++
			case !c.OK:
				mark = "✗"
			}
			fmt.Fprintf(m.Stdout, "%s %s: %s\n", mark, c.Name, c.Detail)
			if c.Fix != "" {
				fmt.Fprintf(m.Stdout, "    → %s\n", c.Fix)
			}
		}
		if failures == 0 {
			fmt.Fprintf(m.Stdout, "all checks passed (%d skipped)\n", skips)
		}
	}
	if failures > 0 {
		return fmt.Errorf("%d of %d checks failed", failures, len(checks))
	}
	return nil
}

// doctor holds what the checks share: the configuration, read as leniently
// as possible so that one wrong variable does not hide the others.
type doctor struct {
	getenv func(string) string
	cfg    Config
	// bad are the variables whose values caisse refuses, by name.
	bad map[string]error
	// across is an error about several variables together.
	across error
	// secrets are every secret value of the environment, replaced in
	// anything printed, whatever a library may have put in a message.
	secrets []string
}

// newDoctor reads the configuration variable by variable: a variable
// caisse refuses is recorded and takes its default, so the checks of the
// others still run. STRIPE_WEBHOOK_SECRET is checked on its own.
func newDoctor(getenv func(string) string) *doctor {
	d := &doctor{getenv: getenv, bad: map[string]error{}}
	masked := func(k string) string {
		if k == "STRIPE_WEBHOOK_SECRET" {
			return ""
		}
		return getenv(k)
	}
	for _, v := range configVars {
		val := cmp.Or(masked(v.env), v.def)
		if err := v.set(&d.cfg, val); err != nil {
			d.bad[v.env] = fmt.Errorf("%s: %w", v.env, err)
			_ = v.set(&d.cfg, v.def)
		}
	}
	if len(d.bad) == 0 {
		if _, _, err := LoadConfig(masked, nil, nil); err != nil {
			d.across = err
		}
	}
	d.secrets = environmentSecrets(getenv)
	return d
}

// environmentSecrets lists the secret values of the environment, and the
// secret parts of values that are addresses.
func environmentSecrets(getenv func(string) string) []string {
	var out []string
	add := func(s ...string) {
		for _, v := range s {
			if v = strings.TrimSpace(v); len(v) >= 6 {
				out = append(out, v, url.QueryEscape(v), url.PathEscape(v))
			}
		}
	}
	// addURL adds an address's password and, when its query may hold a
	// token, its query; not the address itself, which is shown (a
	// database's, a mail server's, an endpoint's without its query).
	addURL := func(raw string, query bool) {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil {
			return
		}
		if p, ok := u.User.Password(); ok {
			add(p, u.User.String())
		}
		if query {
			add(u.RawQuery, u.Fragment)
			for _, vs := range u.Query() {
				add(vs...)
			}
		} else {
			add(u.Query().Get("password"))
		}
	}
	for _, k := range []string{"STRIPE_WEBHOOK_SECRET", "STRIPE_SECRET_KEY", "CAISSE_ADMIN_TOKEN", "CAISSE_SANITY_TOKEN", "CAISSE_NOTIFY_SECRET"} {
		v := getenv(k)
		add(v, strings.TrimPrefix(strings.TrimSpace(v), "whsec_"))
		for s := range strings.SplitSeq(v, ",") {
			add(s, strings.Trim(strings.TrimSpace(s), `"'`))
		}
	}
	addURL(getenv("CAISSE_SMTP_URL"), true)
	addURL(getenv("CAISSE_DATABASE_URL"), false)
	if m := regexp.MustCompile(`password=(\S+)`).FindStringSubmatch(getenv("CAISSE_DATABASE_URL")); m != nil {
		add(m[1], strings.Trim(m[1], `'`))
	}
	// The alert webhook's address is a secret as a whole.
	alert := getenv("CAISSE_ALERT_WEBHOOK_URL")
	add(alert)
	addURL(alert, true)
	if u, err := url.Parse(strings.TrimSpace(alert)); err == nil {
		// The webhook's path is its secret; its segments too, the short
		// ones (a team id) apart.
		add(u.Path, u.EscapedPath())
		for part := range strings.SplitSeq(u.Path, "/") {
			if len(part) >= 8 {
				add(part)
			}
		}
	}
	for raw := range strings.SplitSeq(getenv("CAISSE_NOTIFY_URLS"), ",") {
		addURL(raw, true)
	}
	return out
}

// run runs every check, those that go over the network at once, and
// returns them in a fixed order.
func (d *doctor) run(ctx context.Context) []check {
	var (
		wg                           sync.WaitGroup
		db, email, alert, cms, rates check
		st                           stripeChecks
		hooks                        = make([]check, len(d.cfg.NotifyURLs))
	)
	wg.Go(func() { db = d.database(ctx) })
	wg.Go(func() { st = d.stripe(ctx) })
	wg.Go(func() { email = d.email(ctx) })
	wg.Go(func() { alert = d.alertWebhook(ctx) })
	wg.Go(func() { cms = d.sanity(ctx) })
	wg.Go(func() { rates = d.shippingRates(ctx) })
	for i, raw := range d.cfg.NotifyURLs {
		wg.Go(func() { hooks[i] = d.shopWebhook(ctx, raw) })
	}
	wg.Wait()
	checks := []check{d.webhookSecret(st), d.configuration(), db, st.key, st.endpoint, rates, email, alert, cms}
	if len(hooks) == 0 {
		hooks = []check{skipped("shop webhooks", "not set up: CAISSE_NOTIFY_URLS is unset")}
	}
	return append(checks, hooks...)
}

// owned are the variables a check of their own reports when caisse
// refuses them; the configuration check reports the others.
var owned = []string{"CAISSE_DATABASE_URL", "STRIPE_SECRET_KEY", "STRIPE_API_URL", "CAISSE_LIVEMODE", "CAISSE_SMTP_URL"}

// configuration reports the variables caisse refuses that no other check
// covers, and what is wrong between variables.
func (d *doctor) configuration() check {
	const name = "configuration"
	var problems []string
	for _, v := range configVars {
		if err, ok := d.bad[v.env]; ok && !slices.Contains(owned, v.env) {
			problems = append(problems, err.Error())
		}
	}
	// What LoadConfig refuses between variables: the channels' own
	// (CAISSE_MAIL_FROM, CAISSE_NOTIFY_SECRET, CAISSE_SANITY_*) are their
	// checks'; the others are here, LoadConfig's first among them too.
	if len(d.bad) == 0 {
		c := d.cfg
		for _, p := range []struct {
			wrong bool
			msg   string
		}{
			{c.RefundOversold && c.SecretKey == "", "CAISSE_OVERSOLD_POLICY=refund needs STRIPE_SECRET_KEY, to ask Stripe for the refunds"},
			{c.RefundMismatch && c.SecretKey == "", "CAISSE_MISMATCH_POLICY=refund needs STRIPE_SECRET_KEY, to ask Stripe for the refunds"},
			{c.RefundFraud && c.SecretKey == "", "CAISSE_FRAUD_POLICY=refund needs STRIPE_SECRET_KEY, to ask Stripe for the refunds"},
			{len(c.AlertEmails) > 0 && c.SMTPURL == "", "CAISSE_ALERT_EMAIL: alerts by email need a mail server: set CAISSE_SMTP_URL"},
			{len(c.CheckoutShipping.Rates) > 0 && len(c.CheckoutShipping.Countries) == 0, "CAISSE_SHIPPING_RATES: shipping rates are offered with a shipping address: set CAISSE_SHIPPING_COUNTRIES to the countries you ship to"},
		} {
			if p.wrong {
				problems = append(problems, p.msg)
			}
		}
		if d.across != nil && len(problems) == 0 {
			msg := d.across.Error()
			if !slices.ContainsFunc([]string{"CAISSE_MAIL_FROM", "CAISSE_NOTIFY_SECRET", "CAISSE_SANITY_"}, func(v string) bool { return strings.HasPrefix(msg, v) }) {
				problems = append(problems, msg)
			}
		}
	}
	if len(problems) > 0 {
		return failed(name, strings.Join(problems, "; "),
			"correct the variables named, as their messages say (caisse serve --help lists every variable and its default); caisse serve refuses to start until then")
	}
	return passed(name, "every variable caisse reads is valid")
}

// cliSecret is the shape of the secrets `stripe listen` prints, as far as
// we know: whsec_ and 64 hexadecimal digits (a Dashboard endpoint's has 32
// letters and digits after whsec_). secretBody is what may follow whsec_:
// Stripe's are letters and digits; _, -, and base64's +/= are let through.
var (
	cliSecret  = regexp.MustCompile(`^whsec_[0-9a-f]{64}$`)
	secretBody = regexp.MustCompile(`^[A-Za-z0-9_+/=-]+$`)
)

// minSecret is the fewest characters after whsec_ in a secret Stripe made.
const minSecret = 32

// whereSecret says where to find the webhook signing secret.
const whereSecret = "copy the signing secret (whsec_…) of the webhook endpoint that points at caisse: Stripe Dashboard → Developers → Webhooks → the endpoint → Signing secret (Reveal); when testing on your machine, the one `stripe listen` prints"

// webhookSecret checks the format of STRIPE_WEBHOOK_SECRET, and whether a
// Stripe CLI secret is all caisse has while an endpoint in Stripe delivers
// to it.
func (d *doctor) webhookSecret(st stripeChecks) check {
	const name = "webhook secret"
	raw := d.getenv("STRIPE_WEBHOOK_SECRET")
	var pieces []string
	for s := range strings.SplitSeq(raw, ",") {
		if s = strings.TrimSpace(s); s != "" {
			pieces = append(pieces, s)
		}
	}
	if len(pieces) == 0 {
		return failed(name, "STRIPE_WEBHOOK_SECRET is not set, so caisse serve refuses to start: without it caisse cannot tell Stripe's webhooks from forgeries", whereSecret)
	}
	var problems, fixes []string
	problem := func(p, fix string) {
		problems = append(problems, p)
		if !slices.Contains(fixes, fix) {
			fixes = append(fixes, fix)
		}
	}
	cli := 0
	var short []string
	for i, s := range pieces {
		which := "STRIPE_WEBHOOK_SECRET"
		if len(pieces) > 1 {
			which = fmt.Sprintf("secret %d of STRIPE_WEBHOOK_SECRET", i+1)
		}
		body, isWhsec := strings.CutPrefix(s, "whsec_")
		switch {
		case strings.ContainsAny(s[:1]+s[len(s)-1:], `"'`):
			problem(which+" is wrapped in quotes", "remove the quotes: an env file, a systemd unit or a container's settings keep them as part of the value")
		case strings.HasPrefix(s, "sk_") || strings.HasPrefix(s, "rk_"):
			what := "a Stripe API key (" + s[:3] + "…)"
			if s == d.getenv("STRIPE_SECRET_KEY") {
				what += ", the same as STRIPE_SECRET_KEY"
			}
			problem(which+" is "+what+", not a webhook signing secret", whereSecret+"; the API key belongs in STRIPE_SECRET_KEY only")
		case strings.HasPrefix(s, "pk_"):
			problem(which+" is a publishable key (pk_…), not a webhook signing secret", whereSecret)
		case strings.HasPrefix(s, "we_"):
			problem(which+" is the id of a webhook endpoint (we_…), not its signing secret", whereSecret)
		case !isWhsec:
			problem(which+" does not start with whsec_, as a webhook signing secret does", whereSecret)
		case placeholderSecret(s):
			problem(which+" is a placeholder from an example (whsec_…, whsec_xxx), not a signing secret, so caisse serve refuses to start", whereSecret)
		case s == readmeSecret && d.cfg.notJustTrying() != "":
			problem(which+" is the README's example, which anyone can read, and "+d.cfg.notJustTrying()+", so caisse serve refuses to start", whereSecret)
		case !secretBody.MatchString(body):
			problem(which+" has characters a signing secret never has after whsec_ (spaces, quotes, the dots of a masked secret?)", "copy it again, whole, after Reveal: "+whereSecret)
		case len(body) < minSecret:
			short = append(short, fmt.Sprintf("%s has %d characters after whsec_", which, len(body)))
		case cliSecret.MatchString(s):
			cli++
		}
	}
	if len(problems) > 0 {
		return failed(name, strings.Join(problems, "; "), strings.Join(fixes, "; "))
	}
	detail := "1 secret, in the whsec_… format"
	if len(pieces) > 1 {
		detail = fmt.Sprintf("%d secrets (rotation), each in the whsec_… format", len(pieces))
	}
	if len(short) > 0 {
		c := passed(name, detail+"; but "+strings.Join(short, ", ")+fmt.Sprintf(", fewer than Stripe's (%d or more): fine for caisse send, not for Stripe's deliveries", minSecret))
		c.Fix = "if Stripe delivers to caisse, copy the endpoint's secret again, whole: " + whereSecret
		return c
	}
	if cli > 0 && cli == len(pieces) {
		detail += ", shaped like the secret `stripe listen` prints"
		if st.best.ID != "" {
			c := passed(name, detail+"; but "+st.best.ID+" in Stripe delivers to caisse and signs with its own secret, which has another shape")
			c.Fix = "if caisse receives that endpoint's events, add its signing secret to STRIPE_WEBHOOK_SECRET (comma-separated): Stripe Dashboard → Developers → Webhooks → " + st.best.ID + " → Signing secret; otherwise caisse refuses them (400)"
			return c
		}
	}
	return passed(name, detail+" (the format only: only a delivery from Stripe proves the secret right)")
}

// stripeChecks are what the look at Stripe found.
type stripeChecks struct {
	key, endpoint check
	// best is the enabled endpoint that points at caisse, if any.
	best caisse.WebhookEndpoint
}

// stripe checks the secret key, its mode against CAISSE_LIVEMODE, and the
// account's webhook endpoint for caisse, with one request to Stripe.
func (d *doctor) stripe(ctx context.Context) stripeChecks {
	const keyName, endpointName = "stripe key", "stripe endpoint"
	key := strings.TrimSpace(d.getenv("STRIPE_SECRET_KEY"))
	var out stripeChecks
	if key == "" {
		out.key = skipped(keyName, "not set up: STRIPE_SECRET_KEY is unset (no checkout, refunds or catching up); with it, doctor checks that Stripe accepts the key and that its mode (test or live) matches CAISSE_LIVEMODE")
		out.endpoint = skipped(endpointName, "needs STRIPE_SECRET_KEY: with it, doctor checks that a webhook endpoint in Stripe points at caisse, is enabled and sends every event type caisse handles, and reports its API version")
		return out
	}
	needsKey := skipped(endpointName, "needs a STRIPE_SECRET_KEY that Stripe accepts")
	whereKey := "copy the secret key (sk_test_… or sk_live_…, in the mode you mean) from Stripe Dashboard → Developers → API keys; a restricted key (rk_…) works too"
	switch {
	case strings.HasPrefix(key, "pk_"):
		return stripeChecks{key: failed(keyName, "STRIPE_SECRET_KEY is a publishable key (pk_…), which cannot call Stripe's API", whereKey), endpoint: needsKey}
	case strings.HasPrefix(key, "whsec_"):
		return stripeChecks{key: failed(keyName, "STRIPE_SECRET_KEY is a webhook signing secret (whsec_…), not an API key", whereKey+"; the signing secret belongs in STRIPE_WEBHOOK_SECRET"), endpoint: needsKey}
	}
	for _, v := range []string{"STRIPE_SECRET_KEY", "STRIPE_API_URL", "CAISSE_LIVEMODE"} {
		if err := d.bad[v]; err != nil {
			return stripeChecks{key: failed(keyName, err.Error(), "correct "+v+" as the message says"), endpoint: needsKey}
		}
	}
	live := strings.HasPrefix(key, "sk_live_") || strings.HasPrefix(key, "rk_live_")
	mode := "test"
	if live {
		mode = "live"
	} else if !strings.HasPrefix(key, "sk_test_") && !strings.HasPrefix(key, "rk_test_") {
		mode = "unknown"
	}

	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	client := stripe.NewClient(key, d.cfg.APIURL, &http.Client{Timeout: doctorTimeout})
	endpoints, err := client.WebhookEndpoints(ctx)
	api := cmp.Or(d.cfg.APIURL, "https://api.stripe.com")
	var se *caisse.StripeError
	switch {
	case err == nil:
	case errors.As(err, &se) && se.Status == http.StatusUnauthorized:
		// Stripe's message quotes part of the key: it is left out.
		return stripeChecks{key: failed(keyName, "Stripe refused STRIPE_SECRET_KEY ("+strings.TrimSpace("401 "+se.RequestID)+")",
			"the key is mistyped, rolled or deleted: "+whereKey), endpoint: needsKey}
	case errors.As(err, &se) && se.Status == http.StatusForbidden:
		out.key = passed(keyName, "Stripe accepts the key ("+mode+" mode), a restricted key that may not read webhook endpoints")
		out.endpoint = failed(endpointName, "the restricted key may not read webhook endpoints, so doctor (and caisse serve, every 10 minutes) cannot check the endpoint",
			"give the key the Webhook Endpoints: Read permission in Stripe Dashboard → Developers → API keys, or check the endpoint there by hand (Developers → Webhooks)")
		return d.modeMismatch(out, live, mode)
	case errors.As(err, &se):
		return stripeChecks{key: failed(keyName, fmt.Sprintf("Stripe answered %d %s: %s", se.Status, cmp.Or(se.Code, se.Type), se.Message),
			"try again in a minute; if it persists, check status.stripe.com, and STRIPE_API_URL if you set it"), endpoint: needsKey}
	case ctx.Err() != nil:
		return stripeChecks{key: failed(keyName, fmt.Sprintf("Stripe's API at %s did not answer within %s", api, doctorTimeout),
			"check that this machine reaches "+api+" (a firewall or proxy may block it), or try again"), endpoint: needsKey}
	default:
		return stripeChecks{key: failed(keyName, fmt.Sprintf("could not reach Stripe's API at %s (%s)", api, outbound.TransportCause(err, nil)),
			"check that this machine reaches "+api+" (DNS, a firewall or a proxy may block it), and STRIPE_API_URL if you set it"), endpoint: needsKey}
	}
	out.key = passed(keyName, "Stripe accepts the key ("+mode+" mode)")
	out = d.modeMismatch(out, live, mode)
	out.endpoint, out.best = d.endpoint(endpoints, mode)
	return out
}

// shippingRates checks that each rate the checkout offers
// (CAISSE_SHIPPING_RATES) exists in the key's account and mode, and is
// active: Stripe refuses a checkout that offers one that is not, so no
// buyer could pay.
func (d *doctor) shippingRates(ctx context.Context) check {
	const name = "shipping rates"
	rates := d.cfg.CheckoutShipping.Rates
	key := strings.TrimSpace(d.getenv("STRIPE_SECRET_KEY"))
	switch {
	case len(rates) == 0:
		return skipped(name, "not set up: CAISSE_SHIPPING_RATES is unset (the checkout offers no shipping rate)")
	case key == "" || d.bad["STRIPE_SECRET_KEY"] != nil || d.bad["STRIPE_API_URL"] != nil:
		return skipped(name, "needs a STRIPE_SECRET_KEY: with it, doctor checks that each rate exists and is active")
	}
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	client := stripe.NewClient(key, d.cfg.APIURL, &http.Client{Timeout: doctorTimeout})
	var found, problems []string
	for _, id := range rates {
		r, err := client.ShippingRate(ctx, id)
		var se *caisse.StripeError
		switch {
		case errors.As(err, &se) && se.Status == http.StatusNotFound:
			problems = append(problems, id+" does not exist in this Stripe account, in the key's mode")
		case err != nil:
			return failed(name, fmt.Sprintf("could not read %s from Stripe (%s)", id, outbound.TransportCause(err, nil)),
				"try again in a minute; if it persists, check that this machine reaches Stripe's API")
		case !r.Active:
			problems = append(problems, id+" ("+r.DisplayName+") is archived")
		default:
			desc := id + " (" + r.DisplayName
			if r.Currency != "" {
				desc += ", " + caisse.FormatMoney(r.Amount, r.Currency, caisse.LangEnglish)
			}
			found = append(found, desc+")")
		}
	}
	if len(problems) > 0 {
		return failed(name, strings.Join(problems, "; ")+": Stripe refuses a checkout that offers it, so no buyer could pay",
			"create or unarchive the rate in Stripe Dashboard → Product catalogue → Shipping rates (in the key's mode), and put its id in CAISSE_SHIPPING_RATES")
	}
	return passed(name, "the checkout offers "+strings.Join(found, ", "))
}

// modeMismatch fails the key check when its mode and CAISSE_LIVEMODE
// disagree, and says which mode events caisse takes otherwise.
func (d *doctor) modeMismatch(out stripeChecks, live bool, mode string) stripeChecks {
	switch {
	case mode == "unknown":
		out.key.Detail += "; the key is neither sk_test_/rk_test_ nor sk_live_/rk_live_, so caisse cannot tell which mode its checkouts are in"
	case d.cfg.Livemode == "":
		out.key.Detail += "; CAISSE_LIVEMODE is empty: caisse takes test and live events alike"
	case d.cfg.Livemode == mode:
		out.key.Detail += "; CAISSE_LIVEMODE=" + d.cfg.Livemode + " matches"
	default:
		other := map[bool]string{true: "test", false: "live"}[live]
		out.key = failed(out.key.Name,
			fmt.Sprintf("STRIPE_SECRET_KEY is a %s key but CAISSE_LIVEMODE=%s refuses %s events: the checkouts caisse opens would be paid in %s mode, and their payments ignored", mode, d.cfg.Livemode, mode, mode),
			fmt.Sprintf("use the %s secret key (sk_%s_…) from Stripe Dashboard → Developers → API keys, or set CAISSE_LIVEMODE=%s (or leave it empty)", other, other, mode))
	}
	return out
}

// endpoint reports whether a webhook endpoint of the account points at
// caisse, through the check caisse serve runs (payments.EvaluateEndpoints),
// with CAISSE_PUBLIC_URL's host when it is set.
func (d *doctor) endpoint(endpoints []caisse.WebhookEndpoint, mode string) (check, caisse.WebhookEndpoint) {
	const name = "stripe endpoint"
	host := ""
	if u, err := url.Parse(d.cfg.PublicURL); err == nil && d.cfg.PublicURL != "" {
		host = payments.URLHost(u)
	}
	want := "https://YOUR-CAISSE-HOST/webhooks/stripe"
	if d.cfg.PublicURL != "" {
		want = d.cfg.PublicURL + "/webhooks/stripe"
	}
	dashboard := "Stripe Dashboard (" + mode + " mode) → Developers → Webhooks"
	shown := func(ep caisse.WebhookEndpoint) string {
		return ep.ID + " (" + cmp.Or(notify.Recipient(ep.URL), "an address that is not a URL") + ")"
	}
	rep := payments.EvaluateEndpoints(endpoints, caissehttp.WebhookPaths, host)
	switch rep.Problem {
	case "missing":
		if host != "" {
			if elsewhere := payments.EvaluateEndpoints(endpoints, caissehttp.WebhookPaths, ""); len(elsewhere.Ours) > 0 {
				var names []string
				for _, ep := range elsewhere.Ours {
					names = append(names, shown(ep))
				}
				return failed(name, fmt.Sprintf("no webhook endpoint of the %s-mode account points at %s (CAISSE_PUBLIC_URL's host); %s point elsewhere", mode, host, strings.Join(names, ", ")),
					"in "+dashboard+", point the endpoint at "+want+", or correct CAISSE_PUBLIC_URL"), caisse.WebhookEndpoint{}
			}
		}
		var urls []string
		for _, ep := range endpoints[:min(len(endpoints), 5)] {
			urls = append(urls, shown(ep))
		}
		found := "it has none"
		if len(urls) > 0 {
			found = fmt.Sprintf("it has %d: %s", len(endpoints), strings.Join(urls, ", "))
		}
		return failed(name, fmt.Sprintf("no webhook endpoint of the %s-mode account points at caisse (a URL ending in %s); %s", mode, strings.Join(caissehttp.WebhookPaths, ", "), found),
			"in "+dashboard+" → Add endpoint, enter "+want+" with the events "+strings.Join(caisse.HandledTypes, ", ")+", then put its signing secret in STRIPE_WEBHOOK_SECRET; until then caisse hears of payments only by catching up"), caisse.WebhookEndpoint{}
	case "disabled":
		var names []string
		for _, ep := range rep.Ours {
			names = append(names, shown(ep))
		}
		return failed(name, strings.Join(names, ", ")+" points at caisse but is disabled: Stripe sends it nothing",
			"enable it in "+dashboard+" → the endpoint; Stripe disables an endpoint that failed for days, so check that caisse was reachable"), caisse.WebhookEndpoint{}
	}
	version := "the account's default API version"
	if rep.Best.APIVersion != "" {
		version = "API version " + rep.Best.APIVersion
	}
	if rep.Problem == "missing_types" {
		return failed(name, fmt.Sprintf("%s is enabled, with %s, but does not send %s", shown(rep.Best), version, strings.Join(rep.Missing, ", ")),
			"add these event types to the endpoint in "+dashboard+" → "+rep.Best.ID+" → Update details (or select every event)"), rep.Best
	}
	events := "every event type caisse handles"
	if slices.Contains(rep.Best.EnabledEvents, "*") {
		events = "every event (*)"
	}
	return passed(name, fmt.Sprintf("%s is enabled and sends %s, with %s", shown(rep.Best), events, version)), rep.Best
}

// database checks that the database is reachable, migrated and takes
// writes; for SQLite, that the file (or the folder it will be created in)
// is writable. It creates nothing.
func (d *doctor) database(ctx context.Context) check {
	const name = "database"
	if err := d.bad["CAISSE_DATABASE_URL"]; err != nil {
		return failed(name, err.Error(), "write it as sqlite:PATH (such as sqlite:caisse.db) or postgres://user:password@host:5432/database")
	}
	shown := redactURL(d.cfg.DatabaseURL)
	path, isSQLite := d.cfg.SQLitePath()
	if isSQLite {
		if path == "" {
			return failed(name, "CAISSE_DATABASE_URL is sqlite: without a file", "write it as sqlite:PATH, such as sqlite:/var/lib/caisse/caisse.db")
		}
		dir := filepath.Dir(path)
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := writableDir(dir); err != nil {
				return failed(name, fmt.Sprintf("%s does not exist yet, and caisse could not create it: %v", path, err),
					"create the folder "+dir+" and let the user that runs caisse write to it, or point CAISSE_DATABASE_URL elsewhere")
			}
			c := passed(name, fmt.Sprintf("%s does not exist yet: caisse migrate (or caisse serve) creates it, in %s, which is writable", path, dir))
			if others := nearbyDatabases(path); others != "" {
				c.Fix = "if caisse has run before, this path is mistyped: " + dir + " holds " + others + "; correct CAISSE_DATABASE_URL"
			}
			return c
		case err != nil:
			return failed(name, fmt.Sprintf("cannot read %s: %v", path, err), "let the user that runs caisse read and write the file and its folder")
		case fi.IsDir():
			return failed(name, path+" is a folder, not a database file", "point CAISSE_DATABASE_URL at a file, such as sqlite:"+filepath.Join(path, "caisse.db"))
		}
		if err := writableFile(path); err != nil {
			return failed(name, fmt.Sprintf("%s is not writable: %v", path, err), "let the user that runs caisse write the file")
		}
		if err := writableDir(dir); err != nil {
			return failed(name, fmt.Sprintf("the folder %s is not writable (SQLite writes its -wal and -shm files beside the database): %v", dir, err),
				"let the user that runs caisse write to "+dir)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	db, err := openDB(ctx, d.cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return failed(name, err.Error(), "correct CAISSE_DATABASE_URL")
	}
	unreachable := "check that PostgreSQL is running and reachable at that host, and that the user, password and database in CAISSE_DATABASE_URL are right"
	if isSQLite {
		unreachable = "check that " + path + " is a caisse database (SQLite) and not damaged, and that no other program locks it"
	}
	if err := db.Open(ctx); err != nil {
		if ctx.Err() != nil {
			return failed(name, fmt.Sprintf("%s did not answer within %s", shown, doctorTimeout), unreachable)
		}
		return failed(name, fmt.Sprintf("%s: %v", shown, err), unreachable)
	}
	defer db.Close()
	if err := db.Ready(ctx); err != nil {
		msg := err.Error()
		switch {
		case errors.Is(err, caisse.ErrMigrationsPending):
			return failed(name, fmt.Sprintf("%s is reachable, but %s", shown, caisse.Advise(err)[0].Problem),
				"run caisse migrate (caisse serve also migrates when it starts)")
		case errors.Is(err, caisse.ErrNoWrites):
			return failed(name, fmt.Sprintf("%s is migrated, but %s", shown, msg),
				"check that the disk is not full and that the database user may write")
		case ctx.Err() != nil:
			return failed(name, fmt.Sprintf("%s did not answer within %s", shown, doctorTimeout), unreachable)
		}
		return failed(name, fmt.Sprintf("%s: %s", shown, msg), unreachable)
	}
	return passed(name, shown+" is reachable, migrated and takes writes")
}

// writableFile reports whether the file can be opened for writing, without
// writing to it.
func writableFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// writableDir reports whether a file can be created in dir, by creating
// and removing one.
func writableDir(dir string) error {
	f, err := os.CreateTemp(dir, ".caisse-doctor-*")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// email checks that the mail server signs caisse in, sending nothing.
func (d *doctor) email(ctx context.Context) check {
	const name = "email"
	if err := d.bad["CAISSE_SMTP_URL"]; err != nil {
		return failed(name, err.Error(), "write it as "+`smtp://user:password@host:587, smtps://user:password@host:465 or smtp://127.0.0.1:1025`)
	}
	if d.cfg.SMTPURL == "" {
		return skipped(name, "not set up: CAISSE_SMTP_URL is unset, so customer emails are recorded skipped and no alert goes by email")
	}
	sc := smtpConfig(d.cfg)
	sc.Timeout = doctorTimeout
	s, err := smtp.New(sc)
	if err != nil {
		detail, fix := advice(err, "correct the variable named")
		return failed(name, detail, fix)
	}
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	if err := s.Check(ctx); err != nil {
		detail, fix := advice(err, "check CAISSE_SMTP_URL")
		return failed(name, detail, fix)
	}
	return passed(name, s.String()+" signed caisse in; nothing was sent (caisse notify test sends a real email)")
}

// alertWebhook checks that the alert webhook's host answers. It posts
// nothing: an incoming webhook has no harmless request, anything it
// accepts appears in the channel.
func (d *doctor) alertWebhook(ctx context.Context) check {
	const name = "alert webhook"
	if d.cfg.AlertWebhookURL == "" {
		return skipped(name, "not set up: CAISSE_ALERT_WEBHOOK_URL is unset")
	}
	s, err := slack.New(slack.Config{WebhookURL: d.cfg.AlertWebhookURL, HTTPClient: &http.Client{Timeout: doctorTimeout}})
	if err != nil {
		detail, fix := advice(err, "correct CAISSE_ALERT_WEBHOOK_URL")
		return failed(name, detail, fix)
	}
	addr, err := reach(ctx, d.cfg.AlertWebhookURL)
	if err != nil {
		return failed(name, "cannot reach the alert webhook's host: "+err.Error(),
			"check the address in CAISSE_ALERT_WEBHOOK_URL, and that this machine reaches it (DNS, a firewall or a proxy may block it)")
	}
	// The host answers; whether the webhook itself exists is asked with an
	// empty message, which a live webhook refuses and a deleted one answers
	// 404: what caisse notify test would fail, doctor fails too.
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	if err := s.Check(ctx); err != nil {
		return failed(name, err.Error(), "create an incoming webhook (Slack: Apps → Incoming Webhooks; Discord: the channel's Integrations → Webhooks, with /slack after its address) and set CAISSE_ALERT_WEBHOOK_URL to its address")
	}
	return passed(name, addr+" answers and the webhook exists (it refused an empty message, as it should); no message was posted: caisse notify test posts a real one")
}

// sanity sends Sanity a dry run, as caisse notify test does: it changes
// nothing, and proves the project, the dataset, and that the token may
// change documents.
func (d *doctor) sanity(ctx context.Context) check {
	const name = "sanity"
	if d.cfg.SanityProject == "" && d.cfg.SanityDataset == "" && d.cfg.SanityToken == "" {
		return skipped(name, "not set up: CAISSE_SANITY_PROJECT is unset")
	}
	s, err := sanity.New(sanity.Config{Project: d.cfg.SanityProject, Dataset: d.cfg.SanityDataset, Token: d.cfg.SanityToken,
		APIVersion: d.cfg.SanityAPIVersion, URL: d.cfg.SanityURL, Field: d.cfg.SanityField, HTTPClient: &http.Client{Timeout: doctorTimeout}})
	if err != nil {
		detail, fix := advice(err, "set CAISSE_SANITY_PROJECT, CAISSE_SANITY_DATASET and CAISSE_SANITY_TOKEN")
		return failed(name, detail, fix)
	}
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	n := caisse.Notice{Delivery: caisse.Delivery{ID: "dlv_doctor", Channel: caisse.ChannelSanity, Topic: caisse.TopicTest,
		Recipient: "sanity", Status: caisse.DeliveryPending}, ShopName: d.cfg.ShopName}
	if err := s.Send(ctx, n); err != nil {
		reach := "check that this machine reaches Sanity's API (CAISSE_SANITY_URL, if set, names it), or try again later"
		if ctx.Err() != nil {
			return failed(name, fmt.Sprintf("Sanity did not answer within %s", doctorTimeout), reach)
		}
		detail, fix := advice(err, reach)
		return failed(name, detail, fix)
	}
	return passed(name, fmt.Sprintf("project %s, dataset %s: Sanity accepts the token and lets it change documents (a dry run, which changed nothing)",
		d.cfg.SanityProject, d.cfg.SanityDataset))
}

// shopWebhook checks that one of the shop's endpoints answers. It posts
// nothing, as the shop would take anything signed for an event.
func (d *doctor) shopWebhook(ctx context.Context, raw string) check {
	s, err := notify.New(notify.Config{URL: raw, Secret: d.cfg.NotifySecret})
	name := "shop webhook"
	if err != nil {
		detail, fix := advice(err, "correct CAISSE_NOTIFY_URLS")
		return failed(name, detail, fix)
	}
	name += " " + s.Recipient()
	addr, err := reach(ctx, raw)
	if err != nil {
		return failed(name, "cannot reach it: "+err.Error(),
			"check the address in CAISSE_NOTIFY_URLS, that the shop's server is up, and that this machine reaches it")
	}
	return passed(name, addr+" answers; nothing was posted (caisse notify test posts a signed test message)")
}

// reach connects to an address's host and port (and, for https, completes
// the TLS handshake, which checks the certificate), then hangs up. It
// returns host:port; its errors never quote the address's path or query.
func reach(ctx context.Context, raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Hostname() == "" {
		return "", errors.New("the address is not a URL")
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return "", fmt.Errorf("the name %s does not resolve (%s)", u.Hostname(), dnsErr.Err)
	case err != nil && ctx.Err() != nil:
		return "", fmt.Errorf("%s did not answer within %s", addr, doctorTimeout)
	case err != nil:
		return "", fmt.Errorf("nothing answers at %s (%v)", addr, errors.Unwrap(err))
	}
	defer conn.Close()
	if u.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			return "", fmt.Errorf("%s answers, but TLS failed (%v)", addr, err)
		}
		return addr + " (TLS)", nil
	}
	return addr, nil
}

// advice returns what went wrong in err and what to do about it, as err
// says (caisse.Advise); fallback is what to do about a part that does not
// say.
func advice(err error, fallback string) (detail, fix string) {
	var details, fixes []string
	for _, a := range caisse.Advise(err) {
		details = append(details, a.Problem)
		if f := cmp.Or(a.Fix, fallback); !slices.Contains(fixes, f) {
			fixes = append(fixes, f)
		}
	}
	return strings.Join(details, "; "), strings.Join(fixes, "; ")
}

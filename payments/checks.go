package payments

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/caisse/caisse"
)

// ChecksArgs is the periodic job that looks for what the team should hear
// of without any event saying so: a long silence from Stripe while
// checkouts are opened, and the Stripe webhook endpoint disabled or missing.
type ChecksArgs struct{}

// Kind names the job in River's tables.
func (ChecksArgs) Kind() string { return "checks" }

type checksWorker struct {
	river.WorkerDefaults[ChecksArgs]
	jobs *Jobs
}

func (w *checksWorker) Work(ctx context.Context, _ *river.Job[ChecksArgs]) error {
	return w.jobs.RunChecks(ctx)
}

// RunChecks looks for what the team should hear of without any event
// saying so, and alerts them: a long silence from Stripe while checkouts are
// opened, and (with a secret key) the webhook endpoint missing, disabled or
// deaf to types caisse handles.
func (j *Jobs) RunChecks(ctx context.Context) error {
	var errs []error
	if err := j.CheckSilence(ctx); err != nil {
		errs = append(errs, err)
	}
	if j.Stripe != nil {
		rep, err := j.CheckWebhookEndpoint(ctx)
		if err != nil {
			errs = append(errs, err)
		} else if err := j.alertEndpoint(ctx, rep); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CheckSilence alerts the team when no event has arrived for AlertSilence
// while checkouts were opened meanwhile: payments are likely happening that
// caisse does not hear of. It alerts at most once a day.
func (j *Jobs) CheckSilence(ctx context.Context) error {
	if j.AlertSilence <= 0 {
		return nil
	}
	now := j.now()
	since := now.Add(-j.AlertSilence)
	last, err := j.Store.LastEventReceived(ctx)
	if err != nil {
		return err
	}
	if !last.IsZero() && last.UnixMicro() >= since.UnixMicro() {
		return nil
	}
	checkouts, err := j.Store.CheckoutsOpenedSince(ctx, since)
	if err != nil {
		return err
	}
	if checkouts == 0 {
		return nil
	}
	return j.Store.WriteOutbox(ctx, caisse.AlertMessage(now.UTC().Format("2006-01-02"), caisse.TopicSilence, "",
		caisse.SilenceAlert(j.AlertSilence, since, last, checkouts)))
}

// EndpointReport is what a look at the account's webhook endpoints found.
type EndpointReport struct {
	// Endpoints is how many the account has.
	Endpoints int
	// Ours are those whose path is one of caisse's webhook routes.
	Ours []caisse.WebhookEndpoint
	// Problem says what is wrong, empty when one of ours is enabled and
	// sends every type caisse handles.
	Problem string
	// Missing are the handled types an enabled endpoint of ours does not send.
	Missing []string
	// Best is the enabled endpoint of ours that sends the most handled
	// types (ID empty if none is enabled).
	Best caisse.WebhookEndpoint
}

// EvaluateEndpoints says whether one of the endpoints points at caisse (its
// URL's path is one of paths and, when host is not empty, its host is host,
// the port included when it is not the scheme's default), is enabled, and
// sends every type caisse handles.
func EvaluateEndpoints(endpoints []caisse.WebhookEndpoint, paths []string, host string) EndpointReport {
	var rep EndpointReport
	rep.Endpoints = len(endpoints)
	enabled := false
	for _, ep := range endpoints {
		u, err := url.Parse(ep.URL)
		if err != nil || !slices.Contains(paths, strings.TrimRight(u.Path, "/")) {
			continue
		}
		if host != "" && !strings.EqualFold(URLHost(u), host) {
			continue
		}
		rep.Ours = append(rep.Ours, ep)
		if ep.Status != "enabled" {
			continue
		}
		enabled = true
		if slices.Contains(ep.EnabledEvents, "*") {
			rep.Missing, rep.Best = nil, ep
			break
		}
		var missing []string
		for _, t := range caisse.HandledTypes {
			if !slices.Contains(ep.EnabledEvents, t) {
				missing = append(missing, t)
			}
		}
		if rep.Best.ID == "" || len(missing) < len(rep.Missing) {
			rep.Missing, rep.Best = missing, ep
		}
	}
	switch {
	case len(rep.Ours) == 0:
		rep.Problem = "missing"
	case !enabled:
		rep.Problem = "disabled"
	case len(rep.Missing) > 0:
		rep.Problem = "missing_types"
	}
	return rep
}

// URLHost is u's host in lower case, with its port only when it is not the
// scheme's default: https://Pay.example.com:443/x is pay.example.com.
func URLHost(u *url.URL) string {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" || (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		return host
	}
	return net.JoinHostPort(host, port)
}

// CheckWebhookEndpoint reads the account's webhook endpoints and reports
// whether one points at caisse, is enabled, and sends every type caisse
// handles.
func (j *Jobs) CheckWebhookEndpoint(ctx context.Context) (EndpointReport, error) {
	var rep EndpointReport
	if j.Stripe == nil {
		return rep, caisse.Errorf(caisse.EINVALID, "checking the webhook endpoint needs STRIPE_SECRET_KEY")
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	endpoints, err := j.Stripe.WebhookEndpoints(ctx)
	if err != nil {
		return rep, fmt.Errorf("error listing the Stripe account's webhook endpoints: %w", err)
	}
	return EvaluateEndpoints(endpoints, j.WebhookPaths, ""), nil
}

// alertEndpoint tells the team, at most once a day per problem, that the
// webhook endpoint is missing, disabled or deaf to types caisse needs.
func (j *Jobs) alertEndpoint(ctx context.Context, rep EndpointReport) error {
	if rep.Problem == "" {
		return nil
	}
	var ours caisse.WebhookEndpoint
	if len(rep.Ours) > 0 {
		ours = rep.Ours[0]
	}
	a := caisse.EndpointAlert(rep.Problem, rep.Endpoints, ours, rep.Missing)
	key := rep.Problem + ":" + j.now().UTC().Format("2006-01-02")
	return j.Store.WriteOutbox(ctx, caisse.AlertMessage(key, caisse.TopicEndpointProblem, "", a))
}

// endpointLog is a line about the endpoint check, for the log at start.
func (rep EndpointReport) endpointLog() (string, []any) {
	var ids []string
	for _, ep := range rep.Ours {
		ids = append(ids, ep.ID+" ("+ep.Status+", API "+cmp.Or(ep.APIVersion, "the account's default")+")")
	}
	attrs := []any{"endpoints", rep.Endpoints, "ours", strings.Join(ids, ", ")}
	switch rep.Problem {
	case "missing":
		return "no webhook endpoint of this Stripe account points at caisse (a URL ending in /webhooks/stripe): add one in the Dashboard (Developers → Webhooks), or events arrive only by catching up", attrs
	case "disabled":
		return "the Stripe webhook endpoint for caisse is disabled: Stripe sends it nothing; enable it in the Dashboard (Developers → Webhooks)", attrs
	case "missing_types":
		return "the Stripe webhook endpoint for caisse does not send every type caisse handles: add them in the Dashboard (Developers → Webhooks)",
			append(attrs, "missing", strings.Join(rep.Missing, ","))
	}
	return "Stripe webhook endpoint for caisse", attrs
}

// LogWebhookEndpoint checks the endpoint and logs what it found: a warning
// when something is wrong.
func (j *Jobs) LogWebhookEndpoint(ctx context.Context) {
	rep, err := j.CheckWebhookEndpoint(ctx)
	if err != nil {
		j.logger().Warn("could not check the Stripe account's webhook endpoints", "error", err.Error())
		return
	}
	msg, attrs := rep.endpointLog()
	if rep.Problem != "" {
		j.logger().Warn(msg, attrs...)
		return
	}
	j.logger().Info(msg, attrs...)
}

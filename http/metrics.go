package http

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/caisse/caisse"
)

// Metrics are caisse's Prometheus metrics, on a registry of their own.
type Metrics struct {
	Registry *prometheus.Registry
	// Webhooks counts webhook requests by outcome.
	Webhooks *prometheus.CounterVec
	// Events counts processing attempts by event type and resulting status.
	Events *prometheus.CounterVec
	// Duration observes how long processing an event takes.
	Duration prometheus.Histogram
	// Errors counts error answers by code.
	Errors *prometheus.CounterVec
	// Deliveries counts delivery attempts by channel and outcome (delivered,
	// retry, failed, skipped).
	Deliveries *prometheus.CounterVec

	backlog *backlogCollector
}

// Backlog reads the events waiting in the store.
type Backlog func(context.Context) (caisse.EventBacklog, error)

// backlogFor is how long a backlog read serves scrapes. Scrapes cost
// nothing to the database in between, however often they come and however
// many instances scrape one database.
const backlogFor = 5 * time.Second

// NewMetrics registers caisse's metrics. backlog is read at a scrape, at
// most once every few seconds.
func NewMetrics(backlog Backlog) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "caisse_webhook_requests_total", Help: "Webhook requests by outcome.",
		}, []string{"outcome"}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "caisse_events_processed_total", Help: "Event processing attempts by type and resulting status.",
		}, []string{"type", "status"}),
		Duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "caisse_event_processing_seconds", Help: "Time to process one event.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "caisse_http_errors_total", Help: "Error answers by code.",
		}, []string{"code"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "caisse_deliveries_total", Help: "Delivery attempts by channel and outcome (delivered, retry, failed, skipped).",
		}, []string{"channel", "outcome"}),
	}
	m.Registry.MustRegister(m.Webhooks, m.Events, m.Duration, m.Errors, m.Deliveries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if backlog != nil {
		m.backlog = &backlogCollector{backlog: backlog, now: time.Now}
		m.Registry.MustRegister(m.backlog)
	}
	return m
}

// EventProcessed records one processing attempt. The type label is one of
// the types caisse handles, or "other": anyone holding the webhook secret
// can make up types, and each new label value would be a new series.
func (m *Metrics) EventProcessed(eventType string, status caisse.EventStatus, d time.Duration) {
	if !caisse.Handled(eventType) {
		eventType = "other"
	}
	m.Events.WithLabelValues(eventType, string(status)).Inc()
	m.Duration.Observe(d.Seconds())
}

// CountStatements exports a count of the SQL statements caisse runs.
func (m *Metrics) CountStatements(n func() int64) {
	m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "caisse_sql_statements_total", Help: "SQL statements caisse ran (each transaction's BEGIN and COMMIT included).",
	}, func() float64 { return float64(n()) }))
}

// DeliveryAttempt records one delivery attempt and its outcome.
func (m *Metrics) DeliveryAttempt(channel caisse.Channel, status caisse.DeliveryStatus) {
	outcome := string(status)
	if status == caisse.DeliveryPending {
		outcome = "retry"
	}
	m.Deliveries.WithLabelValues(string(channel), outcome).Inc()
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

var (
	eventsDesc = prometheus.NewDesc("caisse_events", "Stored events waiting to be processed (pending) or failed for good (failed). "+
		"Processed events are not counted: their number only grows; see caisse_events_processed_total.", []string{"status"}, nil)
	queueDesc      = prometheus.NewDesc("caisse_queue_depth", "Events waiting to be processed.", nil, nil)
	deadLetterDesc = prometheus.NewDesc("caisse_dead_letters", "Events whose processing failed for good (replayable).", nil, nil)
	oldestDesc     = prometheus.NewDesc("caisse_oldest_pending_event_age_seconds", "How long the oldest pending event has waited since it was received (0 when none waits).", nil, nil)
	outboxDesc     = prometheus.NewDesc("caisse_outbox", "Deliveries (emails, alerts, CMS updates, webhooks) waiting to be sent (pending) or failed for good (failed).", []string{"status"}, nil)
	outboxAgeDesc  = prometheus.NewDesc("caisse_outbox_oldest_pending_age_seconds", "How long the oldest delivery waiting to be sent has waited since it was written (0 when none waits).", nil, nil)
)

// backlogCollector reads the backlog from the store at a scrape, reusing a
// read younger than backlogFor. Scrapes that arrive together share one read.
type backlogCollector struct {
	backlog Backlog
	now     func() time.Time

	mu     sync.Mutex
	readAt time.Time
	last   caisse.EventBacklog
	err    error
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- eventsDesc
	ch <- queueDesc
	ch <- deadLetterDesc
	ch <- oldestDesc
	ch <- outboxDesc
	ch <- outboxAgeDesc
}

func (c *backlogCollector) read() (caisse.EventBacklog, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.readAt.IsZero() || now.Sub(c.readAt) >= backlogFor || now.Before(c.readAt) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.last, c.err = c.backlog(ctx)
		c.readAt = now
	}
	return c.last, now, c.err
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	b, now, err := c.read()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(eventsDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.GaugeValue, float64(b.Pending), string(caisse.EventPending))
	ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.GaugeValue, float64(b.Failed), string(caisse.EventFailed))
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(b.Pending))
	ch <- prometheus.MustNewConstMetric(deadLetterDesc, prometheus.GaugeValue, float64(b.Failed))
	var age float64
	if !b.OldestPending.IsZero() {
		age = max(0, now.Sub(b.OldestPending).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(b.OutboxPending), string(caisse.DeliveryPending))
	ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(b.OutboxFailed), string(caisse.DeliveryFailed))
	var rowAge float64
	if !b.OutboxOldestPending.IsZero() {
		rowAge = max(0, now.Sub(b.OutboxOldestPending).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(outboxAgeDesc, prometheus.GaugeValue, rowAge)
}

package http

import (
	"context"
	"net/http"
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
}

// Counter returns the number of events in each status and the queue depth.
type Counter func(context.Context) (map[caisse.EventStatus]int64, int64, error)

// NewMetrics registers caisse's metrics. count is read at each scrape.
func NewMetrics(count Counter) *Metrics {
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
	}
	m.Registry.MustRegister(m.Webhooks, m.Events, m.Duration, m.Errors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if count != nil {
		m.Registry.MustRegister(&storeCollector{count: count})
	}
	return m
}

// EventProcessed records one processing attempt.
func (m *Metrics) EventProcessed(eventType string, status caisse.EventStatus, d time.Duration) {
	m.Events.WithLabelValues(eventType, string(status)).Inc()
	m.Duration.Observe(d.Seconds())
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

var (
	eventsDesc     = prometheus.NewDesc("caisse_events", "Stored events by status.", []string{"status"}, nil)
	queueDesc      = prometheus.NewDesc("caisse_queue_depth", "Processing jobs waiting or running.", nil, nil)
	deadLetterDesc = prometheus.NewDesc("caisse_dead_letters", "Events whose processing failed for good (replayable).", nil, nil)
)

// storeCollector reads the counts from the store at scrape time.
type storeCollector struct{ count Counter }

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- eventsDesc
	ch <- queueDesc
	ch <- deadLetterDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, depth, err := c.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(eventsDesc, err)
		return
	}
	for _, s := range caisse.EventStatuses {
		ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(depth))
	ch <- prometheus.MustNewConstMetric(deadLetterDesc, prometheus.GaugeValue, float64(counts[caisse.EventFailed]))
}

package bot

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the bot's Prometheus metrics.
type Metrics struct {
	connected  prometheus.Gauge
	envelopes  *prometheus.CounterVec
	duplicates prometheus.Counter
	queued     prometheus.Gauge
	rejected   prometheus.Counter
	busyUntold prometheus.Counter
	handled    *prometheus.HistogramVec
	reconnects prometheus.Counter
}

// NewMetrics registers the bot's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "medic_slack_connected", Help: "1 while the Socket Mode link is up."}),
		envelopes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medic_slack_envelopes_total", Help: "Socket Mode envelopes received and acked, by type."}, []string{"type"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medic_slack_duplicate_envelopes_total", Help: "Envelopes delivered again and not handled twice."}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "medic_slack_queue_depth", Help: "Acked envelopes waiting for a worker."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medic_slack_rejected_total", Help: "Requests refused because the work queue was full."}),
		busyUntold: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medic_slack_rejected_untold_total", Help: "Refused requests whose sender could not be told medic is busy."}),
		handled: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "medic_slack_handle_seconds", Help: "Time to handle an envelope after its ack, by type.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"type"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medic_slack_connects_total", Help: "Socket Mode connections opened."}),
	}
	reg.MustRegister(m.connected, m.envelopes, m.duplicates, m.queued, m.rejected, m.busyUntold, m.handled, m.reconnects)
	return m
}

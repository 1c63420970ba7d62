// Package storemetrics defines the metrics a store's writer reports about
// its commits, once, so that the SQLite and the MongoDB store export the
// same names and a dashboard works on either. Each store owns its own
// Commits and exports it as part of its prometheus.Collector.
package storemetrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Commits records a writer's commits: one per batch of callers that share
// a transaction (group commit).
type Commits struct {
	callers  prometheus.Histogram
	events   prometheus.Histogram
	duration prometheus.Histogram
}

// NewCommits returns empty commit metrics.
func NewCommits() *Commits {
	return &Commits{
		callers: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tally_store_commit_callers",
			Help:    "Callers whose writes shared one commit (group commit).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
		}),
		events: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tally_store_commit_events",
			Help:    "Events the callers of one commit asked to create or delete.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9), // 1 to 65536
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tally_store_commit_duration_seconds",
			Help:    "Time of commits, from the first write to durable (or failed), retries included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
	}
}

// Observe records one commit of callers' writes of events, which took d.
func (c *Commits) Observe(callers, events int, d time.Duration) {
	c.callers.Observe(float64(callers))
	c.events.Observe(float64(events))
	c.duration.Observe(d.Seconds())
}

// Describe is part of prometheus.Collector.
func (c *Commits) Describe(ch chan<- *prometheus.Desc) {
	c.callers.Describe(ch)
	c.events.Describe(ch)
	c.duration.Describe(ch)
}

// Collect is part of prometheus.Collector.
func (c *Commits) Collect(ch chan<- prometheus.Metric) {
	c.callers.Collect(ch)
	c.events.Collect(ch)
	c.duration.Collect(ch)
}

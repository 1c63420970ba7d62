package mongo

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tallyhq/tally/internal/storemetrics"
)

// metrics are what the writer measures: its commits, as the SQLite store's
// writer reports them, and the transactions it ran again.
type metrics struct {
	commits *storemetrics.Commits
	retries prometheus.Counter
}

func newMetrics() metrics {
	return metrics{
		commits: storemetrics.NewCommits(),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tally_store_commit_retries_total",
			Help: "Write transactions run again after a transient error (MongoDB with transactions only).",
		}),
	}
}

// A Store exports its writer's metrics for a registry the caller owns.
var _ prometheus.Collector = (*Store)(nil)

// Describe is part of prometheus.Collector.
func (s *Store) Describe(ch chan<- *prometheus.Desc) {
	s.stats.commits.Describe(ch)
	s.stats.retries.Describe(ch)
}

// Collect is part of prometheus.Collector.
func (s *Store) Collect(ch chan<- prometheus.Metric) {
	s.stats.commits.Collect(ch)
	s.stats.retries.Collect(ch)
}

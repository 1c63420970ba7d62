package sqlite

import "github.com/prometheus/client_golang/prometheus"

// A Store exports what its writer measures, its commits (see
// storemetrics.Commits), for a registry the caller owns.
var _ prometheus.Collector = (*Store)(nil)

// Describe is part of prometheus.Collector.
func (s *Store) Describe(ch chan<- *prometheus.Desc) { s.w.commits.Describe(ch) }

// Collect is part of prometheus.Collector.
func (s *Store) Collect(ch chan<- prometheus.Metric) { s.w.commits.Collect(ch) }

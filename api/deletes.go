package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tallyhq/tally"
)

// deleteWriteTimeout bounds how long a deletion by filter may take to
// answer, in place of the server's write timeout: a million events take
// about a minute on SQLite, far longer beside heavy traffic.
const deleteWriteTimeout = time.Hour

// handleDeleteEvents deletes the events the report filters select, or with
// dry_run counts them. The filters are parsed as /report parses them, so
// that "the events of this report" means the same on both.
func (s *server) handleDeleteEvents(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	rr, err := parseReport(v, "", s.now())
	if err != nil {
		return err
	}
	all, err := boolParam(v, "all")
	if err != nil {
		return err
	}
	dryRun, err := boolParam(v, "dry_run")
	if err != nil {
		return err
	}
	f := rr.Query.Filter
	if (all == nil || !*all) && unfiltered(&f) {
		return tally.FieldErrorf("all", "a deletion without a filter deletes every event: "+
			"give a filter (clients, client_groups, device_types, categories, valid, start_date, end_date, date_range) or all=true")
	}
	if dryRun != nil && *dryRun {
		// The report's totals count the same events, from the rollups.
		q := tally.ReportQuery{GroupBy: []tally.Column{tally.ColValid}, Filter: f, Limit: 1, Location: rr.Query.Location}
		if err := q.Normalize(); err != nil {
			return err
		}
		rep, err := s.store.Report(r.Context(), q)
		if err != nil {
			return fmt.Errorf("count events to delete: %w", err)
		}
		writeJSONBytes(w, http.StatusOK, []byte(`{"matched":`+strconv.FormatInt(rep.Totals.Count, 10)+"}\n"))
		return nil
	}
	// A deletion of millions of events outlasts the server's write timeout;
	// its answer must still reach the client, so this response gets a
	// deadline of its own.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(deleteWriteTimeout))
	n, err := s.store.DeleteEvents(r.Context(), f)
	s.log.InfoContext(r.Context(), "events deleted by filter", "request_id", requestID(r.Context()),
		"filter", r.URL.RawQuery, "deleted", n, "complete", err == nil)
	if err != nil {
		return fmt.Errorf("delete events (%d deleted before the error; resending finishes the deletion): %w", n, err)
	}
	writeJSONBytes(w, http.StatusOK, []byte(`{"deleted":`+strconv.FormatInt(n, 10)+"}\n"))
	return nil
}

// unfiltered reports whether f selects every event.
func unfiltered(f *tally.Filter) bool {
	return f.Clients == nil && f.ClientGroups == nil && f.DeviceTypes == nil && f.Categories == nil &&
		f.Valid == nil && f.From.IsZero() && f.To.IsZero()
}

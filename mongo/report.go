package mongo

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tallyhq/tally"
)

// readBatch is the cursor batch size for report reads: large, because a
// report reads every matching document.
const readBatch = 5000

// Report answers q from this instance's view (kept current from the
// journal): from its day cells when q's buckets and bounds are whole UTC
// days, else from the sub-day rollup of the dimensions q needs, built on
// first use with one scan of the events shared with every rollup asked for
// meanwhile (slots.go; the scan timeout bounds the wait for it). Queries
// whose rollup would not fit the budget, or whose bounds are not whole
// 15-minute slots, read the raw events within the store's scan limits,
// where the server only filters (equality, $in and ranges, which FerretDB
// gets right) and tally.Aggregator does the grouping, ordering, paging and
// means in Go, so the answer is exact on MongoDB and on FerretDB alike.
func (s *Store) Report(ctx context.Context, q tally.ReportQuery) (tally.Report, error) {
	if matchesNothing(&q.Filter) {
		return tally.NewAggregator(&q).Report(), nil
	}
	if r, ok := s.view.pub.Load().Report(&q); ok {
		return r, nil
	}
	if done, ok := s.awaitSlots(&q); ok {
		if err := s.scans.Wait(ctx, done); err != nil {
			return tally.Report{}, err
		}
		if r, ok := s.view.pub.Load().Report(&q); ok {
			return r, nil
		}
	}
	var r tally.Report
	err := s.scans.Do(ctx, func(ctx context.Context) error {
		var err error
		r, err = s.reportFromEvents(ctx, &q)
		return err
	})
	if err != nil {
		return tally.Report{}, err
	}
	return r, nil
}

// matchesNothing reports whether a filter list is present but empty.
func matchesNothing(f *tally.Filter) bool {
	return (f.Clients != nil && len(f.Clients) == 0) ||
		(f.ClientGroups != nil && len(f.ClientGroups) == 0) ||
		(f.DeviceTypes != nil && len(f.DeviceTypes) == 0) ||
		(f.Categories != nil && len(f.Categories) == 0)
}

// eventProjection leaves out what a report does not need.
var eventProjection = bson.D{
	{Key: "_id", Value: 0}, {Key: "device_type", Value: 1}, {Key: "category", Value: 1},
	{Key: "client", Value: 1}, {Key: "client_group", Value: 1}, {Key: "ts", Value: 1},
	{Key: "day", Value: 1}, {Key: "valid", Value: 1}, {Key: "value", Value: 1},
	{Key: "value_lo", Value: 1}, {Key: "value_hi", Value: 1},
}

func (s *Store) reportFromEvents(ctx context.Context, q *tally.ReportQuery) (tally.Report, error) {
	agg := tally.NewAggregator(q)
	err := each(ctx, s.events, eventsFilter(&q.Filter), options.Find().SetProjection(eventProjection), "events", func(d *eventDoc) error {
		k, err := d.key()
		if err != nil {
			return err
		}
		v, err := d.value()
		if err != nil {
			return err
		}
		agg.Add(k, 1, v)
		return nil
	})
	if err != nil {
		return tally.Report{}, err
	}
	return agg.Report(), nil
}

// live leaves out the events deleted but not yet removed (journal.go).
var live = bson.E{Key: "del", Value: bson.D{{Key: "$exists", Value: false}}}

// eventsFilter selects the live raw events of f: its dimensions and its
// time range on the exact ts.
func eventsFilter(f *tally.Filter) bson.D {
	filter := append(dimensionFilter(f), live)
	if r := tsRange(f); r != nil {
		filter = append(filter, bson.E{Key: "ts", Value: r})
	}
	return filter
}

// dimensionFilter turns the filter lists into equality and $in conditions.
// Nulls are stored explicitly, so {$in: [null, ...]} selects exactly the
// events without a device type or category.
func dimensionFilter(f *tally.Filter) bson.D {
	filter := bson.D{}
	if f.Clients != nil {
		filter = append(filter, in("client", f.Clients))
	}
	if f.ClientGroups != nil {
		filter = append(filter, in("client_group", f.ClientGroups))
	}
	if f.DeviceTypes != nil {
		vs := make([]any, len(f.DeviceTypes))
		for i, d := range f.DeviceTypes {
			if p := deviceField(d); p != nil {
				vs[i] = *p
			}
		}
		filter = append(filter, in("device_type", vs))
	}
	if f.Categories != nil {
		vs := make([]any, len(f.Categories))
		for i, c := range f.Categories {
			if p := categoryField(c); p != nil {
				vs[i] = *p
			}
		}
		filter = append(filter, in("category", vs))
	}
	if f.Valid != nil {
		filter = append(filter, bson.E{Key: "valid", Value: *f.Valid})
	}
	return filter
}

func in[T any](field string, vs []T) bson.E {
	return bson.E{Key: field, Value: bson.D{{Key: "$in", Value: vs}}}
}

// tsRange bounds the exact event time in microseconds.
func tsRange(f *tally.Filter) bson.D {
	r := bson.D{}
	if !f.From.IsZero() {
		r = append(r, bson.E{Key: "$gte", Value: f.From.UnixMicro()})
	}
	if !f.To.IsZero() {
		r = append(r, bson.E{Key: "$lt", Value: f.To.UnixMicro()})
	}
	if len(r) == 0 {
		return nil
	}
	return r
}

package mongo

import (
	"context"
	"errors"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/tallyhq/tally"
)

// deleteProjection is what DeleteEvents needs to check an event against the
// filter, and its id.
var deleteProjection = bson.D{
	{Key: "device_type", Value: 1}, {Key: "category", Value: 1}, {Key: "client", Value: 1},
	{Key: "client_group", Value: 1}, {Key: "ts", Value: 1}, {Key: "valid", Value: 1},
}

// deletePage is how many events DeleteEvents finds at a time and hands to
// the writer together.
const deletePage = 500

// DeleteEvents removes the events f selects, a page of deletePage ids at a
// time in _id order. Each id goes through the writer's ordinary delete (the
// event and its cell change together, batched with other writes), so the
// rollups stay exact on MongoDB and FerretDB alike, with or without
// transactions; an event another instance deleted first is skipped. Events
// created while it runs may or may not be removed.
func (s *Store) DeleteEvents(ctx context.Context, f tally.Filter) (int64, error) {
	filter := eventsFilter(&f)
	match := f.Matcher()
	var deleted int64
	last := ""
	for {
		page := filter
		if last != "" {
			page = append(page[:len(page):len(page)], bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: last}}})
		}
		n, ids, err := s.deletePage(ctx, page, match, &last)
		if err != nil {
			return deleted, err
		}
		n2, err := s.deleteIDs(ctx, ids)
		deleted += n2
		if err != nil || n < deletePage {
			return deleted, err
		}
	}
}

// deletePage finds the next page of events to delete after *last, within
// the store's timeout, and returns how many it read and the ids that match.
func (s *Store) deletePage(ctx context.Context, page bson.D, match func(*tally.CellKey) bool, last *string) (int, []tally.ID, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	cur, err := s.events.Find(ctx, page, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).
		SetLimit(deletePage).SetProjection(deleteProjection))
	if err != nil {
		return 0, nil, unavailable("find events to delete", err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var ids []tally.ID
	n := 0
	for cur.Next(ctx) {
		var d eventDoc
		if err := cur.Decode(&d); err != nil {
			return 0, nil, unavailable("decode event", err)
		}
		n++
		*last = d.ID
		k, err := d.key()
		if err != nil {
			return 0, nil, err
		}
		id, err := tally.ParseID(d.ID)
		if err != nil {
			return 0, nil, tally.Errorf(tally.EInternal, "stored event id %q: %v", d.ID, err)
		}
		if match(&k) {
			ids = append(ids, id)
		}
	}
	if err := cur.Err(); err != nil {
		return 0, nil, unavailable("find events to delete", err)
	}
	return n, ids, nil
}

// deleteIDs deletes the events concurrently, so that the writer takes them
// in as few batches as it can, and counts those it found.
func (s *Store) deleteIDs(ctx context.Context, ids []tally.ID) (int64, error) {
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		deleted int64
		errs    []error
	)
	for _, id := range ids {
		wg.Go(func() {
			err := s.submit(ctx, &writeReq{delete: true, id: id})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				deleted++
			case tally.ErrorCode(err) != tally.ENotFound:
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	return deleted, errors.Join(errs...)
}

package mongo

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// watchJournal wakes the view's catch-up as soon as another instance
// writes or resolves a journal entry, on deployments with change streams
// (a replica set or a sharded cluster), so that remote writes show before
// the next poll. The stream only says when to read: the view still reads
// the journal by number, which stays its position, so an event the stream
// loses or a stream that breaks costs at most a poll interval. No resume
// token is kept for the same reason. FerretDB and a standalone mongod have
// no change streams: there the poll alone runs.
func (s *Store) watchJournal() {
	defer close(s.watched)
	if !s.streams {
		return
	}
	for {
		err := s.watchOnce(s.life)
		if s.life.Err() != nil {
			return
		}
		s.log("watch the journal (polling meanwhile)", err)
		select {
		case <-s.life.Done():
			return
		case <-time.After(s.lease):
		}
	}
}

// journalChanges selects the changes that can make an entry readable: a
// resolved entry inserted in a transaction, or an entry's resolution.
var journalChanges = driver.Pipeline{{{Key: "$match", Value: bson.D{
	{Key: "operationType", Value: bson.D{{Key: "$in", Value: bson.A{"insert", "update", "replace"}}}},
}}}, {{Key: "$project", Value: bson.D{{Key: "_id", Value: 1}}}}}

// watchOnce follows the journal's change stream until it fails or ctx
// ends.
func (s *Store) watchOnce(ctx context.Context) error {
	cs, err := s.journal.Watch(ctx, journalChanges, options.ChangeStream().SetMaxAwaitTime(time.Second))
	if err != nil {
		return unavailable("watch the journal", err)
	}
	defer cs.Close(context.WithoutCancel(ctx))
	for cs.Next(ctx) {
		select {
		case s.wake <- struct{}{}:
		default: // a catch-up is due already
		}
	}
	return unavailable("watch the journal", cs.Err())
}

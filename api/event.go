package api

import (
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/tallyhq/tally"
)

// encodeEvent writes e as the body of an answer.
func encodeEvent(e *tally.Event) []byte {
	return append(e.AppendJSON(make([]byte, 0, 224)), '\n')
}

// appendFloat formats like encoding/json, without its reflection.
func appendFloat(b []byte, f float64) []byte {
	abs := f
	if abs < 0 {
		abs = -abs
	}
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b) - start
		if n >= 4 && b[len(b)-4] == 'e' && b[len(b)-3] == '-' && b[len(b)-2] == '0' {
			b[len(b)-2] = b[len(b)-1]
			b = b[:len(b)-1]
		}
	}
	return b
}

func (s *server) handleCreateEvent(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(r.Body) // already read and bounded by validation
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	e, hasID, err := s.decodeOne(body)
	if err != nil {
		s.metrics.ingested(0, 0, 1)
		return err
	}
	if !hasID {
		e.ID = s.newID()
	}
	if err := s.store.CreateEvent(r.Context(), e); err != nil {
		if tally.ErrorCode(err) == tally.EConflict {
			s.metrics.ingested(0, 1, 0)
		}
		return fmt.Errorf("create event: %w", err)
	}
	s.metrics.ingested(1, 0, 0)
	w.Header().Set("Location", "/event/"+e.ID.String())
	writeJSONBytes(w, http.StatusCreated, encodeEvent(&e))
	return nil
}

func (s *server) handleGetEvent(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	e, err := s.store.Event(r.Context(), id)
	if err != nil {
		return fmt.Errorf("get event: %w", err)
	}
	writeJSONBytes(w, http.StatusOK, encodeEvent(&e))
	return nil
}

func (s *server) handleDeleteEvent(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if err := s.store.DeleteEvent(r.Context(), id); err != nil {
		return fmt.Errorf("delete event: %w", err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func pathID(r *http.Request) (tally.ID, error) {
	id, err := tally.ParseID(r.PathValue("event_id"))
	if err != nil {
		return id, tally.FieldErrorf("event_id", "%s", tally.ErrorMessage(err))
	}
	return id, nil
}

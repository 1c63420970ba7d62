package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tallyhq/tally"
)

// readyTimeout bounds the store ping of /readyz, so that a hung store
// answers 503 rather than holding the probe.
const readyTimeout = 2 * time.Second

var statusOK = []byte(`{"status":"ok"}` + "\n")

func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	writeJSONBytes(w, http.StatusOK, statusOK)
	return nil
}

func (s *server) handleReady(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		// A store that knows why it is not ready (a full disk, say) says so
		// to the operator; anything else stays "not reachable".
		msg := "store not reachable"
		var te *tally.Error
		if errors.As(err, &te) && te.Code == tally.EUnavailable {
			msg = "store not ready: " + te.Message
		}
		return fmt.Errorf("%w: %w", tally.Errorf(tally.EUnavailable, "%s", msg), err)
	}
	writeJSONBytes(w, http.StatusOK, statusOK)
	return nil
}

func (s *server) handleOpenAPIJSON(w http.ResponseWriter, r *http.Request) error {
	writeJSONBytes(w, http.StatusOK, s.spec.json)
	return nil
}

func (s *server) handleOpenAPIYAML(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	_, _ = w.Write(OpenAPIYAML)
	return nil
}

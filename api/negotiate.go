package api

import (
	"mime"
	"strconv"
	"strings"

	"github.com/tallyhq/tally"
)

// negotiate returns the type among offers (in order of preference) that the
// Accept header accepts best, or "" when it accepts none. An absent header
// accepts the first offer.
func negotiate(accept string, offers []string) string {
	if strings.TrimSpace(accept) == "" {
		return offers[0]
	}
	best, bestQ := "", 0.0
	for _, offer := range offers {
		if q := acceptQ(accept, offer); q > bestQ {
			best, bestQ = offer, q
		}
	}
	return best
}

// acceptQ returns the quality the Accept header gives to typ: that of its
// most specific matching media range, 0 when none matches.
func acceptQ(accept, typ string) float64 {
	major, _, _ := strings.Cut(typ, "/")
	q, specificity := 0.0, 0
	for r := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(r))
		if err != nil {
			continue
		}
		s := 0
		switch mt {
		case typ:
			s = 3
		case major + "/*":
			s = 2
		case "*/*":
			s = 1
		default:
			continue
		}
		if s <= specificity {
			continue
		}
		specificity, q = s, 1
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
				q = f
			}
		}
	}
	return q
}

// isJSON reports whether a Content-Type is JSON: application/json or a
// structured +json type, any parameters.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// requireJSON returns a 415 unless a request body's Content-Type is JSON.
// An absent type is refused too: browsers send a body without one from any
// page, without asking first (no CORS preflight), so accepting it would
// let a cross-site page post events when no API keys are set. want names
// what to send instead.
func requireJSON(contentType, want string) error {
	switch {
	case contentType == "":
		return tally.Errorf(eUnsupportedMedia, "Content-Type: missing; send %s", want)
	case !isJSON(contentType):
		return tally.Errorf(eUnsupportedMedia, "Content-Type %q is not JSON; send %s", contentType, want)
	}
	return nil
}

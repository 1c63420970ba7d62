package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tallyhq/tally"
)

// The flag.Values of serve's settings. Each parses its text when the flag or
// the variable is read, so that a mistake is reported with the flag's name at
// once, and each String writes the form its Set reads, so that the defaults
// -h prints (and the README's table repeats) are values one can type.
//
// Set parses only; ranges and rules between settings are checked once in
// serveConfig.validate.

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }

// sizeValue is a byte count: 1048576, 1MiB, 512KiB, 0.
type sizeValue int64

func (v *sizeValue) Set(s string) error {
	n, err := parseByteCount(s)
	if err != nil {
		return errors.New("not a size: a number with B, KiB, MiB or GiB, such as 512KiB")
	}
	*v = sizeValue(n)
	return nil
}

func (v *sizeValue) String() string { return formatSize(int64(*v)) }

// rateValue is a byte count per second; the "/s" is optional (1KiB/s, 1KiB).
type rateValue int64

func (v *rateValue) Set(s string) error {
	return (*sizeValue)(v).Set(strings.TrimSuffix(strings.TrimSpace(s), "/s"))
}

func (v *rateValue) String() string { return formatSize(int64(*v)) }

// durationValue is a time.Duration written without zero tails: 1m, not 1m0s.
type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration such as 30s, 2m or 1h30m")
	}
	*v = durationValue(d)
	return nil
}

func (v *durationValue) String() string { return formatDuration(time.Duration(*v)) }

func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

type countValue int

func (v *countValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("not a whole number")
	}
	*v = countValue(n)
	return nil
}

func (v *countValue) String() string { return strconv.Itoa(int(*v)) }

// boolValue is a boolean that takes its value as the next argument too
// (--auth-reads true), unlike the flag package's: the README and existing
// deployments write it so, and a boolean flag would leave "true" behind as a
// stray argument.
type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("not true or false")
	}
	*v = boolValue(b)
	return nil
}

func (v *boolValue) String() string { return strconv.FormatBool(bool(*v)) }

// retentionValue is tally.ParseRetention's form: 400d, 720h, off.
type retentionValue tally.Retention

func (v *retentionValue) Set(s string) error {
	r, err := tally.ParseRetention(s)
	if err != nil {
		return errors.New("neither a number of days (400d) nor a positive duration (720h), nor off")
	}
	*v = retentionValue(r)
	return nil
}

func (v *retentionValue) String() string {
	const day = 24 * time.Hour
	switch age := v.Age; {
	case age <= 0:
		return "off"
	case age%day == 0:
		return strconv.FormatInt(int64(age/day), 10) + "d"
	default:
		return formatDuration(age)
	}
}

// choiceValue is one of a few words.
type choiceValue struct {
	p       *string
	choices []string
}

func (v *choiceValue) Set(s string) error {
	if !slices.Contains(v.choices, s) {
		return fmt.Errorf("not %s", strings.Join(v.choices, " or "))
	}
	*v.p = s
	return nil
}

func (v *choiceValue) String() string {
	if v.p == nil { // the flag package's zero value, to tell a default
		return ""
	}
	return *v.p
}

// keysValue is a comma-separated list of API keys. Its String never writes
// the keys: -h prints only the (empty) default, and nothing else may show
// them.
type keysValue []string

func (v *keysValue) Set(s string) error {
	*v = nil
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			*v = append(*v, k)
		}
	}
	return nil
}

func (v *keysValue) String() string {
	if len(*v) == 0 {
		return ""
	}
	return fmt.Sprintf("(%d keys)", len(*v))
}

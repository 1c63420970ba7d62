package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// parseSize parses a byte count: a plain number of bytes or a number with a
// binary unit, B, KiB, MiB or GiB ("1048576", "1MiB", "512 KiB"). The size
// must be positive. Decimal units (KB, MB) are refused rather than guessed.
func parseSize(s string) (int64, error) {
	n, err := parseByteCount(s)
	if err == nil && n == 0 {
		return 0, fmt.Errorf("invalid size %q: must be positive", s)
	}
	return n, err
}

// parseByteCount is parseSize that also takes 0.
func parseByteCount(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && '0' <= t[i] && t[i] <= '9' {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	if num == "" {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes, optionally with B, KiB, MiB or GiB", s)
	}
	var mult int64
	switch strings.ToLower(unit) {
	case "", "b":
		mult = 1
	case "kib":
		mult = 1 << 10
	case "mib":
		mult = 1 << 20
	case "gib":
		mult = 1 << 30
	default:
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (want B, KiB, MiB or GiB)", s, unit)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return n * mult, nil
}

// formatSize writes n in the largest binary unit that holds it exactly, the
// form parseSize reads: 1MiB, 64KiB, 1000B, 0.
func formatSize(n int64) string {
	if n == 0 {
		return "0"
	}
	for _, u := range []struct {
		name string
		mult int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

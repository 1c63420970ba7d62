package tally_test

import (
	"math"
	"math/big"
	"math/rand/v2"
	"regexp"
	"strconv"
	"testing"

	"github.com/tallyhq/tally"
)

// jsonNumber is JSON's number grammar, which ParseDecimal accepts.
var (
	jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)
	exponent   = regexp.MustCompile(`[eE][+-]?0*([0-9]+)$`)
)

// refMicros is the reference: s in millionths, rounded half to even, by
// math/big.
func refMicros(s string) *big.Int {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("reference cannot parse " + s)
	}
	r.Mul(r, big.NewRat(1_000_000, 1))
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	// q truncates toward zero; m has r's sign. Compare 2|m| with the denominator.
	twice := new(big.Int).Abs(m)
	twice.Lsh(twice, 1)
	c := twice.Cmp(r.Denom())
	if c > 0 || (c == 0 && q.Bit(0) == 1) {
		if r.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}

// micros returns d in millionths as a big.Int, through its String form.
func micros(t *testing.T, d tally.Decimal) *big.Int {
	t.Helper()
	r, ok := new(big.Rat).SetString(d.String())
	if !ok {
		t.Fatalf("String() = %q is not a number", d.String())
	}
	r.Mul(r, big.NewRat(1_000_000, 1))
	if !r.IsInt() {
		t.Fatalf("String() = %q has more than six fractional digits", d.String())
	}
	return r.Num()
}

func mustDecimal(t testing.TB, s string) tally.Decimal {
	t.Helper()
	d, err := tally.ParseDecimal(s)
	if err != nil {
		t.Fatalf("ParseDecimal(%q): %v", s, err)
	}
	return d
}

func TestParseDecimal(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0", "0"},
		{"-0", "0"},
		{"0.1", "0.1"},
		{"689.84", "689.84"},
		{"1e15", "1000000000000000"},
		{"-1E+15", "-1000000000000000"},
		{"1e-6", "0.000001"},
		{"1e-7", "0"},
		{"0.0000005", "0"},        // half to even: 0
		{"0.0000015", "0.000002"}, // half to even: 2
		{"0.0000025", "0.000002"}, // half to even: 2
		{"0.00000250001", "0.000003"},
		{"-0.0000025", "-0.000002"},
		{"-0.0000035", "-0.000004"},
		{"123456789012345.123456", "123456789012345.123456"},
		{"999999999999999.9999995", "1000000000000000"},
		{"2.50e2", "250"},
		{"0.000000000000000000000000000001e30", "1"},
		{"100000000000000000000000000000000e-1", "10000000000000000000000000000000"},
		{"1e-99999999999999999999", "0"},
	} {
		got := mustDecimal(t, tc.in).String()
		if got != tc.want {
			t.Errorf("ParseDecimal(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{"", "-", "+1", "01", "1.", ".5", "1e", "1e+", "0x10", "1_000", " 1", "1 ", "NaN", "Infinity", "1e99999999999999999999", "1e32", "-1e32"} {
		if d, err := tally.ParseDecimal(in); err == nil {
			t.Errorf("ParseDecimal(%q) = %s, want an error", in, d)
		}
	}
}

// randomNumber writes a JSON number with digits, fractions and exponents of
// every length that stays in range.
func randomNumber(r *rand.Rand) string {
	b := []byte{}
	if r.IntN(2) == 0 {
		b = append(b, '-')
	}
	intDigits := r.IntN(20)
	if intDigits == 0 {
		b = append(b, '0')
	} else {
		b = append(b, byte('1'+r.IntN(9)))
		for range intDigits - 1 {
			b = append(b, byte('0'+r.IntN(10)))
		}
	}
	if r.IntN(2) == 0 {
		b = append(b, '.')
		for range 1 + r.IntN(14) {
			// Many 0s, 5s and 9s, where rounding is decided.
			b = append(b, "0123456789055599"[r.IntN(16)])
		}
	}
	if r.IntN(3) == 0 {
		b = append(b, "eE"[r.IntN(2)])
		if r.IntN(2) == 0 {
			b = append(b, "+-"[r.IntN(2)])
		}
		b = strconv.AppendInt(b, int64(r.IntN(12)), 10)
	}
	return string(b)
}

func TestParseDecimalMatchesBig(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(38), nil)
	for range 200_000 {
		s := randomNumber(r)
		want := refMicros(s)
		d, err := tally.ParseDecimal(s)
		if new(big.Int).Abs(want).Cmp(limit) >= 0 {
			if err == nil {
				t.Fatalf("ParseDecimal(%q) = %s, want out of range", s, d)
			}
			continue
		}
		if err != nil {
			// Near the limit the parser refuses by digit count, before rounding.
			if new(big.Int).Abs(want).Cmp(new(big.Int).Div(limit, big.NewInt(10))) >= 0 {
				continue
			}
			t.Fatalf("ParseDecimal(%q): %v", s, err)
		}
		if got := micros(t, d); got.Cmp(want) != 0 {
			t.Fatalf("ParseDecimal(%q) = %s, want %s millionths", s, d, want)
		}
	}
}

// randomDecimal draws values of adversarial magnitudes: cents next to the
// largest values, negatives, and sums far beyond one value's range.
func randomDecimal(r *rand.Rand) tally.Decimal {
	switch r.IntN(5) {
	case 0:
		return tally.DecimalFromMicros(r.Int64N(2_000_000) - 1_000_000)
	case 1:
		return tally.DecimalFromMicros(r.Int64() - math.MaxInt64/2)
	case 2:
		d := tally.DecimalFromInt(r.Int64N(1_000_000_000_000_001))
		if r.IntN(2) == 0 {
			d = d.Neg()
		}
		return d.Add(tally.DecimalFromMicros(r.Int64N(1_000_000)))
	case 3:
		return tally.DecimalFromParts(r.Int64N(1<<30)-1<<29, int64(r.Uint64()))
	}
	return tally.DecimalFromMicros(int64(r.IntN(3)) - 1)
}

func TestDecimalArithmeticMatchesBig(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 100_000 {
		a, b := randomDecimal(r), randomDecimal(r)
		ba, bb := micros(t, a), micros(t, b)
		if got, want := micros(t, a.Add(b)), new(big.Int).Add(ba, bb); got.Cmp(want) != 0 {
			t.Fatalf("%s + %s = %s, want %s millionths", a, b, a.Add(b), want)
		}
		if got, want := micros(t, a.Sub(b)), new(big.Int).Sub(ba, bb); got.Cmp(want) != 0 {
			t.Fatalf("%s - %s = %s, want %s millionths", a, b, a.Sub(b), want)
		}
		if got, want := a.Cmp(b), ba.Cmp(bb); got != want {
			t.Fatalf("Cmp(%s, %s) = %d, want %d", a, b, got, want)
		}
		if got, want := a.Sign(), ba.Sign(); got != want {
			t.Fatalf("Sign(%s) = %d, want %d", a, got, want)
		}
		if back := mustDecimal(t, a.String()); back != a {
			t.Fatalf("ParseDecimal(%s.String()) = %s", a, back)
		}
		if hi, lo := a.Parts(); tally.DecimalFromParts(hi, lo) != a {
			t.Fatalf("Parts of %s do not round-trip", a)
		}
		if hi, lo, ok := a.Limbs(); !ok || tally.DecimalFromLimbs(hi, lo) != a || lo < 0 || lo >= 1<<32 {
			t.Fatalf("Limbs of %s = %d, %d, %v", a, hi, lo, ok)
		}
		n := 1 + r.Int64N(1_000_000)
		if r.IntN(10) == 0 {
			n = r.Int64N(math.MaxInt64/1_000_000) + 1
		}
		want, _ := new(big.Rat).SetFrac(ba, new(big.Int).Mul(big.NewInt(n), big.NewInt(1_000_000))).Float64()
		if got := a.Quo(n); got != want {
			t.Fatalf("%s.Quo(%d) = %v, want %v", a, n, got, want)
		}
	}
}

// Sums of limbs, as a store adds them field by field, give the sum.
func TestDecimalLimbSums(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var sum tally.Decimal
	var hiSum, loSum int64
	for range 10_000 {
		d := randomDecimal(r)
		if d.Abs().Cmp(tally.MaxValue) > 0 {
			continue // a value out of an event's range
		}
		if r.IntN(3) == 0 {
			d = d.Neg()
		}
		hi, lo, _ := d.Limbs()
		hiSum += hi
		loSum += lo
		sum = sum.Add(d)
		if got := tally.DecimalFromLimbs(hiSum, loSum); got != sum {
			t.Fatalf("limb sums give %s, want %s", got, sum)
		}
	}
}

func TestDecimalExactSums(t *testing.T) {
	// The reproductions: a cent next to 1e15, and 0.1 + 0.2.
	cent, big15 := mustDecimal(t, "0.01"), mustDecimal(t, "1e15")
	if got := cent.Add(big15).Sub(big15); got != cent {
		t.Errorf("0.01 + 1e15 - 1e15 = %s, want 0.01", got)
	}
	if got := mustDecimal(t, "0.1").Add(mustDecimal(t, "0.2")); got.String() != "0.3" {
		t.Errorf("0.1 + 0.2 = %s, want 0.3", got)
	}
	if got := mustDecimal(t, "0.1").Add(mustDecimal(t, "0.2")).Sub(mustDecimal(t, "0.1")); got.String() != "0.2" {
		t.Errorf("0.1 + 0.2 - 0.1 = %s, want 0.2", got)
	}
	var s tally.Decimal
	for _, v := range []string{"100.11", "200.22", "389.51"} {
		s = s.Add(mustDecimal(t, v))
	}
	if s.String() != "689.84" {
		t.Errorf("sum = %s, want 689.84", s)
	}
}

func TestDecimalFromFloat(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0.1, "0.1"}, {47.5, "47.5"}, {1e15, "1000000000000000"}, {math.Copysign(0, -1), "0"},
		{1e-7, "0"}, {0.30000000000000004, "0.3"}, {123456.789, "123456.789"},
	} {
		d, err := tally.DecimalFromFloat(tc.in)
		if err != nil || d.String() != tc.want {
			t.Errorf("DecimalFromFloat(%v) = %s, %v; want %s", tc.in, d, err, tc.want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1)} {
		if _, err := tally.DecimalFromFloat(f); err == nil {
			t.Errorf("DecimalFromFloat(%v): no error", f)
		}
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "-12.5", "1e15", "0.0000025", "9.999999e-1", "1E+31"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := tally.ParseDecimal(s)
		if !jsonNumber.MatchString(s) {
			if err == nil {
				t.Fatalf("ParseDecimal(%q) = %s, want an error", s, d)
			}
			return
		}
		if err != nil {
			return // out of range
		}
		if m := exponent.FindStringSubmatch(s); m == nil || len(m[1]) <= 3 { // keep the reference's work small
			if got, want := micros(t, d), refMicros(s); got.Cmp(want) != 0 {
				t.Fatalf("ParseDecimal(%q) = %s, want %s millionths", s, d, want)
			}
		}
		if back := mustDecimal(t, d.String()); back != d {
			t.Fatalf("%q: String %s does not parse back", s, d)
		}
	})
}

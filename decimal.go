package tally

import (
	"math"
	"math/big"
	"math/bits"
	"strconv"
)

// Decimal is an exact decimal number with six fractional digits: a signed
// 128-bit count of millionths, in two's complement.
//
// Event values are decimals because sums of float64 depend on the order of
// the additions and lose small values next to large ones: 0.01 added to and
// then 1e15 taken back from a float sum leaves 0. Integer millionths add,
// subtract and regroup exactly in any order, so a rollup cell, a projection
// and a scan of raw events all give the same sum. 128 bits because one value
// may be 1e15 (1e21 millionths, more than int64 holds) and a sum of many
// such values must not overflow: the range is about ±1.7e32.
//
// The zero value is 0. Decimals are comparable with ==.
type Decimal struct {
	hi int64
	lo uint64
}

// DecimalScale is the number of fractional digits a Decimal keeps.
const DecimalScale = 6

const micro = 1_000_000

// MaxValue bounds the magnitude of an event's value: the contract's 1e15,
// far beyond any money amount, and small enough that sums of billions of
// values stay far inside a Decimal's range.
var MaxValue = DecimalFromInt(1_000_000_000_000_000)

// DecimalFromMicros returns m millionths.
func DecimalFromMicros(m int64) Decimal {
	return Decimal{hi: m >> 63, lo: uint64(m)}
}

// DecimalFromInt returns the integer n.
func DecimalFromInt(n int64) Decimal {
	hi, lo := bits.Mul64(abs64(n), micro)
	d := Decimal{hi: int64(hi), lo: lo}
	if n < 0 {
		d = d.Neg()
	}
	return d
}

func abs64(n int64) uint64 {
	if n < 0 {
		return uint64(-n) // also right for MinInt64, as an unsigned magnitude
	}
	return uint64(n)
}

// DecimalFromFloat returns the decimal that f's shortest representation
// writes (0.1 gives exactly 0.1), rounded half to even to six fractional
// digits. It is for values that arrived as float64: generated data, old
// stores. NaN and infinities give an error.
func DecimalFromFloat(f float64) (Decimal, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Decimal{}, Errorf(EInvalid, "not a finite number")
	}
	var buf [32]byte
	return ParseDecimal(strconv.AppendFloat(buf[:0], f, 'g', -1, 64))
}

// MustDecimal is ParseDecimal for constants: it panics on an error.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic("tally: MustDecimal(" + strconv.Quote(s) + "): " + err.Error())
	}
	return d
}

// Micros returns d in millionths when it fits in an int64.
func (d Decimal) Micros() (int64, bool) {
	m := int64(d.lo)
	return m, d.hi == m>>63
}

// Parts returns d as hi·2^64 + lo, where lo is taken as a signed int64:
// every Decimal that fits in an int64 of millionths has hi 0 and lo equal to
// its millionths. It is the form stores with 64-bit integer columns keep.
func (d Decimal) Parts() (hi, lo int64) {
	lo = int64(d.lo)
	return d.hi + int64(d.lo>>63), lo
}

// DecimalFromParts is the inverse of Parts.
func DecimalFromParts(hi, lo int64) Decimal {
	return Decimal{hi: hi - int64(uint64(lo)>>63), lo: uint64(lo)}
}

// Limbs returns d as hi·2^32 + lo with 0 ≤ lo < 2^32. Stores that can only
// add int64s (MongoDB's $inc without Decimal128) keep the two limbs in two
// fields: adding the limbs of many values overflows neither field for any
// realistic cell (lo: 2^31 values; hi: 2^25 values of the largest magnitude,
// far more of ordinary ones). ok is false when hi does not fit in an int64.
func (d Decimal) Limbs() (hi, lo int64, ok bool) {
	lo = int64(d.lo & (1<<32 - 1))
	// An arithmetic shift of the 128-bit value by 32.
	h := d.hi >> 32
	l := uint64(d.hi)<<32 | d.lo>>32
	return int64(l), lo, h == int64(l)>>63
}

// DecimalFromLimbs is the inverse of Limbs, for limbs that are sums of
// limbs: lo may be any int64.
func DecimalFromLimbs(hi, lo int64) Decimal {
	// hi·2^32 as 128 bits, then + lo.
	d := Decimal{hi: hi >> 32, lo: uint64(hi) << 32}
	return d.Add(Decimal{hi: lo >> 63, lo: uint64(lo)})
}

// Add returns d + e.
func (d Decimal) Add(e Decimal) Decimal {
	lo, c := bits.Add64(d.lo, e.lo, 0)
	return Decimal{hi: d.hi + e.hi + int64(c), lo: lo}
}

// Sub returns d − e.
func (d Decimal) Sub(e Decimal) Decimal {
	lo, b := bits.Sub64(d.lo, e.lo, 0)
	return Decimal{hi: d.hi - e.hi - int64(b), lo: lo}
}

// Neg returns −d.
func (d Decimal) Neg() Decimal { return Decimal{}.Sub(d) }

// Sign returns -1, 0 or +1.
func (d Decimal) Sign() int {
	switch {
	case d.hi < 0:
		return -1
	case d.hi == 0 && d.lo == 0:
		return 0
	}
	return 1
}

// IsZero reports whether d is 0.
func (d Decimal) IsZero() bool { return d.hi == 0 && d.lo == 0 }

// Equal reports whether d and e are the same number. (It lets go-cmp
// compare values holding Decimals.)
func (d Decimal) Equal(e Decimal) bool { return d == e }

// Cmp returns -1, 0 or +1 as d is less than, equal to or greater than e.
func (d Decimal) Cmp(e Decimal) int {
	switch {
	case d.hi < e.hi:
		return -1
	case d.hi > e.hi:
		return 1
	case d.lo < e.lo:
		return -1
	case d.lo > e.lo:
		return 1
	}
	return 0
}

// Abs returns |d|.
func (d Decimal) Abs() Decimal {
	if d.hi < 0 {
		return d.Neg()
	}
	return d
}

// bigInt returns d in millionths as a big.Int.
func (d Decimal) bigInt() *big.Int {
	a := d.Abs()
	b := new(big.Int).SetUint64(uint64(a.hi))
	b.Lsh(b, 64).Or(b, new(big.Int).SetUint64(a.lo))
	if d.hi < 0 {
		b.Neg(b)
	}
	return b
}

// maxExactFloat is 2^53: integers up to it are exact in a float64.
const maxExactFloat = 1 << 53

// Float64 returns the float64 nearest to d.
func (d Decimal) Float64() float64 {
	return d.Quo(1)
}

// Quo returns the float64 nearest to d / n, rounded once: the mean of n
// values that sum to d. n must be positive.
func (d Decimal) Quo(n int64) float64 {
	if m, ok := d.Micros(); ok && m > -maxExactFloat && m < maxExactFloat && n < maxExactFloat/micro {
		// Both operands are exact in float64, and IEEE division rounds its
		// exact quotient once.
		return float64(m) / float64(n*micro)
	}
	den := new(big.Int).Mul(big.NewInt(n), big.NewInt(micro))
	f, _ := new(big.Rat).SetFrac(d.bigInt(), den).Float64()
	return f
}

// String returns d in plain decimal notation with no trailing fractional
// zeros and no exponent: "0.3", "-12", "1000000000000000.000001". It is
// also a valid JSON number.
func (d Decimal) String() string {
	var buf [48]byte
	return string(d.Append(buf[:0]))
}

// Append appends d as String writes it.
func (d Decimal) Append(b []byte) []byte {
	if d.hi < 0 {
		b = append(b, '-')
	}
	a := d.Abs()
	// Split the magnitude into whole units and millionths.
	qhi, r := a.hi/micro, uint64(a.hi%micro)
	qlo, frac := bits.Div64(r, a.lo, micro)
	if qhi == 0 {
		b = strconv.AppendUint(b, qlo, 10)
	} else {
		// Whole units need more than 64 bits (below 2^127/10^6 < 10^33):
		// print them as two base-10^19 digits.
		const e19 = 10_000_000_000_000_000_000
		top, low := bits.Div64(uint64(qhi), qlo, e19)
		b = strconv.AppendUint(b, top, 10)
		b = appendPadded(b, low, 19)
	}
	if frac == 0 {
		return b
	}
	b = append(b, '.')
	digits := DecimalScale
	for frac%10 == 0 {
		frac /= 10
		digits--
	}
	return appendPadded(b, frac, digits)
}

func appendPadded(b []byte, v uint64, width int) []byte {
	var buf [20]byte
	s := strconv.AppendUint(buf[:0], v, 10)
	for i := len(s); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

// MarshalText writes d as String does.
func (d Decimal) MarshalText() ([]byte, error) { return d.Append(nil), nil }

// UnmarshalText parses d as ParseDecimal does.
func (d *Decimal) UnmarshalText(b []byte) error {
	v, err := ParseDecimal(b)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// maxDigits is the most decimal digits of millionths ParseDecimal accepts:
// 10^38 − 1 < 2^127, so every such number and its rounding fit in 128 bits.
const maxDigits = 38

// ParseDecimal parses a number in JSON's grammar (sign, digits, fraction,
// exponent: "-12.5", "1e15", "2.5E-3") exactly, rounding half to even to six
// fractional digits. Numbers of 10^32 or more are an EInvalid error; the
// caller applies narrower bounds such as MaxValue.
func ParseDecimal[T ~string | ~[]byte](s T) (Decimal, error) {
	bad := func() (Decimal, error) {
		return Decimal{}, Errorf(EInvalid, "not a number")
	}
	i, n := 0, len(s)
	neg := i < n && s[i] == '-'
	if neg {
		i++
	}
	// The mantissa's digits are s[intStart:intEnd] then s[fracStart:fracEnd].
	intStart := i
	for i < n && isDigit(s[i]) {
		i++
	}
	intEnd := i
	if intEnd == intStart || (s[intStart] == '0' && intEnd-intStart > 1) {
		return bad()
	}
	fracStart, fracEnd := i, i
	if i < n && s[i] == '.' {
		i++
		fracStart = i
		for i < n && isDigit(s[i]) {
			i++
		}
		fracEnd = i
		if fracEnd == fracStart {
			return bad()
		}
	}
	var exp int64
	if i < n && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < n && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		start := i
		for ; i < n && isDigit(s[i]); i++ {
			if exp < 1<<40 { // saturate: beyond it the answer is 0 or out of range anyway
				exp = exp*10 + int64(s[i]-'0')
			}
		}
		if i == start {
			return bad()
		}
		if eneg {
			exp = -exp
		}
	}
	if i != n {
		return bad()
	}
	intDigits, fracDigits := intEnd-intStart, fracEnd-fracStart
	digit := func(j int) byte { // the j-th mantissa digit
		if j < intDigits {
			return s[intStart+j] - '0'
		}
		return s[fracStart+j-intDigits] - '0'
	}
	total := intDigits + fracDigits
	first := 0 // the first non-zero digit
	for first < total && digit(first) == 0 {
		first++
	}
	if first == total {
		return Decimal{}, nil
	}
	// The millionths are the digits up to position keep (exclusive), with
	// zeros appended when keep passes the end; the digits after it round.
	keep := int64(intDigits) + exp + DecimalScale
	if keep-int64(first) > maxDigits {
		return Decimal{}, Errorf(EInvalid, "number too large")
	}
	var hi, lo uint64
	mul10add := func(d uint64) {
		h1, l1 := bits.Mul64(lo, 10)
		l2, c := bits.Add64(l1, d, 0)
		hi, lo = hi*10+h1+c, l2
	}
	for j := int64(first); j < keep; j++ {
		var d byte
		if j < int64(total) {
			d = digit(int(j))
		}
		mul10add(uint64(d))
	}
	if keep < int64(total) {
		// Round half to even on the dropped digits.
		var roundDigit byte
		if keep >= 0 {
			roundDigit = digit(int(keep))
		}
		sticky := false
		for j := max(keep+1, int64(first)); j < int64(total) && !sticky; j++ {
			sticky = digit(int(j)) != 0
		}
		if keep < 0 {
			// Every digit is dropped and the first dropped one is a leading
			// zero of the millionths' place: below one half.
			roundDigit, sticky = 0, true
		}
		if roundDigit > 5 || (roundDigit == 5 && (sticky || lo&1 == 1)) {
			var c uint64
			lo, c = bits.Add64(lo, 1, 0)
			hi += c
		}
	}
	d := Decimal{hi: int64(hi), lo: lo}
	if neg {
		d = d.Neg()
	}
	return d, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

package stats

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"selectivity/stages/internal/stats/fixture"
)

// The fixtures are scipy's / statsmodels' / numpy's answers, written by
// testdata/stats/gen.py (see there for how the cases are drawn).
const fixturePath = "../../../testdata/stats/fixtures.json"

// F is a fixture float: NaN and ±Inf arrive as strings.
type F = fixture.Float

type Fs []F

func (fs Fs) f() []float64 {
	out := make([]float64, len(fs))
	for i, v := range fs {
		out[i] = float64(v)
	}
	return out
}

type tResult struct{ T, P F }

type fixtures struct {
	Versions map[string]string
	Items    []struct {
		Name   string
		P      Fs
		Others []Fs
		FSI    F `json:"fsi"`
		D0     F `json:"dprime0"`
		D1     F `json:"dprime1"`
		MWU    struct {
			U, Z, P   F
			PTwoSided F `json:"p_two_sided"`
			RankSumsZ F `json:"ranksums_z"`
			RankSumsP F `json:"ranksums_p"`
		} `json:"mwu"`
		PerCat struct {
			MaxP    F    `json:"max_p"`
			Highest bool `json:"p_mean_highest"`
		} `json:"percat"`
		Student      tResult
		Welch        tResult
		StudentFirst tResult `json:"student_first"`
		WelchFirst   tResult `json:"welch_first"`
	}
	FSIConvention []struct {
		P, N Fs
		FSI  F `json:"fsi"`
	} `json:"fsi_convention"`
	TTests []struct {
		Name           string
		A, B           Fs
		Student, Welch tResult
	}
	TDist []struct {
		T, Df, P F
		PStdtr   F `json:"p_stdtr"`
	}
	Normal []struct{ Z, SF F }
	Spear  []struct {
		Name string
		X, Y Fs
		Rho  F
	} `json:"spearman"`
	Rank []struct {
		X, Ranks Fs
	}
	MeanSEM []struct {
		X         Fs
		Mean, SEM F
	}
	FDR []struct {
		Name   string
		Alpha  F
		P      Fs
		BH, BY fdrWant
	}
	Harmonic []struct {
		M   int
		Sum F
	}
}

type fdrWant struct {
	Q         Fs
	Reject    []bool
	NReject   int    `json:"n_reject"`
	RejectSHA string `json:"reject_sha256"`
	QSHA      string `json:"q_sha256"`
	SampleIdx []int  `json:"sample_idx"`
	SampleQ   Fs     `json:"sample_q"`
}

var (
	fixOnce sync.Once
	fix     fixtures
	fixErr  error
)

func load(t testing.TB) *fixtures {
	fixOnce.Do(func() {
		b, err := os.ReadFile(filepath.FromSlash(fixturePath))
		if err != nil {
			fixErr = err
			return
		}
		fixErr = json.Unmarshal(b, &fix)
	})
	if fixErr != nil {
		t.Fatalf("fixtures: %v", fixErr)
	}
	return &fix
}

// close reports whether got agrees with want to 1e-9 relative or 1e-12
// absolute; NaN matches NaN and ±Inf matches itself.
func close(got, want float64) bool {
	if math.IsNaN(want) || math.IsNaN(got) {
		return math.IsNaN(want) && math.IsNaN(got)
	}
	if math.IsInf(want, 0) || math.IsInf(got, 0) {
		return got == want
	}
	d := math.Abs(got - want)
	return d <= 1e-12 || d <= 1e-9*math.Abs(want)
}

// closeP is close for p-values: relative 1e-9 all the way into the tail
// (the absolute 1e-12 floor would hide a wrong tail), absolute 1e-12 only
// where want is above 1e-3.
func closeP(got, want float64) bool {
	if math.IsNaN(want) || math.IsNaN(got) || want == 0 || got == 0 {
		return close(got, want)
	}
	d := math.Abs(got - want)
	return d <= 1e-9*math.Abs(want) || (want > 1e-3 && d <= 1e-12)
}

func check(t *testing.T, what string, got float64, want F, p bool) {
	t.Helper()
	ok := close(got, float64(want))
	if p {
		ok = closeP(got, float64(want))
	}
	if !ok {
		t.Errorf("%s = %v, want %v", what, got, float64(want))
	}
}

func concat(fs []Fs) []float64 {
	var out []float64
	for _, f := range fs {
		out = append(out, f.f()...)
	}
	return out
}

func TestItems(t *testing.T) {
	fx := load(t)
	var s Scratch // shared across items: reuse must not leak state
	for _, it := range fx.Items {
		t.Run(it.Name, func(t *testing.T) {
			p, n := it.P.f(), concat(it.Others)
			check(t, "FSI", FSI(p, n), it.FSI, false)
			check(t, "DPrime(ddof 0)", DPrime(p, n, 0), it.D0, false)
			check(t, "DPrime(ddof 1)", DPrime(p, n, 1), it.D1, false)

			u, z, pv := s.MannWhitneyGreater(p, n)
			check(t, "MannWhitney u", u, it.MWU.U, false)
			check(t, "MannWhitney z", z, it.MWU.Z, false)
			check(t, "MannWhitney p", pv, it.MWU.P, true)
			u2, z2, pv2 := MannWhitneyGreater(p, n)
			if u2 != u || z2 != z || pv2 != pv {
				t.Errorf("package MannWhitneyGreater differs from Scratch method")
			}
			_, p2 := s.MannWhitneyTwoSided(p, n)
			check(t, "MannWhitney two-sided p", p2, it.MWU.PTwoSided, true)
			rz, rp := s.RankSums(p, n)
			check(t, "RankSums z", rz, it.MWU.RankSumsZ, false)
			check(t, "RankSums p", rp, it.MWU.RankSumsP, true)

			others := make([][]float64, len(it.Others))
			for i, o := range it.Others {
				others[i] = o.f()
			}
			mp, hi := s.PerCategory(p, others)
			check(t, "PerCategory max p", mp, it.PerCat.MaxP, true)
			if hi != it.PerCat.Highest {
				t.Errorf("PerCategory P mean highest = %v, want %v", hi, it.PerCat.Highest)
			}

			for _, c := range []struct {
				name  string
				b     []float64
				welch bool
				want  tResult
			}{
				{"Student vs N", n, false, it.Student},
				{"Welch vs N", n, true, it.Welch},
				{"Student vs first", others[0], false, it.StudentFirst},
				{"Welch vs first", others[0], true, it.WelchFirst},
			} {
				tt, tp := TTest(p, c.b, c.welch)
				check(t, c.name+" t", tt, c.want.T, false)
				check(t, c.name+" p", tp, c.want.P, true)
			}
		})
	}
}

func TestFSIConvention(t *testing.T) {
	for _, c := range load(t).FSIConvention {
		check(t, fmt.Sprintf("FSI(%v, %v)", c.P, c.N), FSI(c.P.f(), c.N.f()), c.FSI, false)
	}
	// analyses.md's cases, exactly.
	for _, c := range []struct{ mp, mn, want float64 }{
		{0, 0, 0}, {2, -1, 1}, {-1, 2, -1}, {1, -1, 1}, {-1, 1, -1}, {3, 1, 0.5}, {1, 0, 1}, {0, 1, -1},
	} {
		if got := FSIFromMeans(c.mp, c.mn); got != c.want {
			t.Errorf("FSIFromMeans(%v, %v) = %v, want %v", c.mp, c.mn, got, c.want)
		}
	}
}

func TestTTests(t *testing.T) {
	for _, c := range load(t).TTests {
		for _, w := range []struct {
			welch bool
			want  tResult
		}{{false, c.Student}, {true, c.Welch}} {
			tt, tp := TTest(c.A.f(), c.B.f(), w.welch)
			check(t, fmt.Sprintf("%s welch=%v t", c.Name, w.welch), tt, w.want.T, false)
			check(t, fmt.Sprintf("%s welch=%v p", c.Name, w.welch), tp, w.want.P, true)
		}
	}
	// analyses.md: zero variance in both groups gives t = 0, p = 1 (scipy: NaN
	// for equal means, ±Inf and 0 otherwise), also for non-dyadic constants.
	for _, c := range [][2][]float64{
		{{0.1, 0.1, 0.1}, {0.1, 0.1}},
		{{0.3, 0.3}, {0.7, 0.7, 0.7}},
		{{0, 0, 0}, {0, 0}},
	} {
		for _, welch := range []bool{false, true} {
			if tt, tp := TTest(c[0], c[1], welch); tt != 0 || tp != 1 {
				t.Errorf("TTest(%v, %v, %v) = %v, %v; want 0, 1", c[0], c[1], welch, tt, tp)
			}
		}
	}
}

func TestTwoSidedT(t *testing.T) {
	for _, c := range load(t).TDist {
		got := TwoSidedT(float64(c.T), float64(c.Df))
		check(t, fmt.Sprintf("TwoSidedT(%v, %v) vs 2*t.sf", c.T, c.Df), got, c.P, true)
		check(t, fmt.Sprintf("TwoSidedT(%v, %v) vs 2*stdtr", c.T, c.Df), got, c.PStdtr, true)
	}
}

func TestNormSF(t *testing.T) {
	for _, c := range load(t).Normal {
		check(t, fmt.Sprintf("NormSF(%v)", c.Z), NormSF(float64(c.Z)), c.SF, true)
	}
}

func TestSpearman(t *testing.T) {
	var s Scratch
	for _, c := range load(t).Spear {
		got := s.Spearman(c.X.f(), c.Y.f())
		check(t, "Spearman "+c.Name, got, c.Rho, false)
	}
}

func TestRank(t *testing.T) {
	for _, c := range load(t).Rank {
		x := c.X.f()
		dst := make([]float64, len(x))
		Rank(dst, x, nil)
		for i := range dst {
			if !close(dst[i], float64(c.Ranks[i])) {
				t.Errorf("Rank(%v) = %v, want %v", x, dst, c.Ranks)
				break
			}
		}
	}
}

func TestMeanSEM(t *testing.T) {
	for _, c := range load(t).MeanSEM {
		m, se := MeanSEM(c.X.f())
		check(t, "Mean", m, c.Mean, false)
		check(t, "SEM", se, c.SEM, false)
		if got := Mean(c.X.f()); got != float64(c.Mean) && len(c.X) > 3 {
			t.Errorf("Mean(%d values) = %x, numpy %x: not bit-identical", len(c.X), got, float64(c.Mean))
		}
	}
}

func TestHarmonicSumMatchesNumpy(t *testing.T) {
	for _, c := range load(t).Harmonic {
		if got := harmonicSum(c.M); got != float64(c.Sum) {
			t.Errorf("harmonicSum(%d) = %x, numpy %x", c.M, got, float64(c.Sum))
		}
	}
}

func TestFDR(t *testing.T) {
	for _, c := range load(t).FDR {
		var p []float64
		if c.P != nil {
			p = c.P.f()
		} else {
			var m int
			if _, err := fmt.Sscanf(c.Name, "generated_%d", &m); err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			p = genLarge(m)
		}
		for _, mw := range []struct {
			m    FDRMethod
			want fdrWant
		}{{BH, c.BH}, {BY, c.BY}} {
			name := c.Name + " " + mw.m.String()
			q, rej := FDR(p, float64(c.Alpha), mw.m)
			w := mw.want
			if w.Q != nil {
				for i := range q {
					if !close(q[i], float64(w.Q[i])) {
						t.Errorf("%s: q[%d] = %v, want %v", name, i, q[i], float64(w.Q[i]))
					}
					if rej[i] != w.Reject[i] {
						t.Errorf("%s: reject[%d] = %v, want %v", name, i, rej[i], w.Reject[i])
					}
				}
				continue
			}
			nr := 0
			for _, r := range rej {
				if r {
					nr++
				}
			}
			if nr != w.NReject {
				t.Errorf("%s: %d rejected, want %d", name, nr, w.NReject)
			}
			if h := shaBits(rej); h != w.RejectSHA {
				t.Errorf("%s: rejected set differs from statsmodels", name)
			}
			for k, i := range w.SampleIdx {
				if !close(q[i], float64(w.SampleQ[k])) {
					t.Errorf("%s: q[%d] = %v, want %v", name, i, q[i], float64(w.SampleQ[k]))
				}
			}
			if h := shaFloats(q); h != w.QSHA {
				t.Errorf("%s: q not bit-identical to statsmodels", name)
			}
		}
	}
}

func TestFDRNaN(t *testing.T) {
	nan := math.NaN()
	q, rej := FDR([]float64{0.01, nan, 0.04, 0.03}, 0.05, BH)
	want, _ := FDR([]float64{0.01, 0.04, 0.03}, 0.05, BH)
	if !math.IsNaN(q[1]) || rej[1] || q[0] != want[0] || q[2] != want[1] || q[3] != want[2] {
		t.Errorf("FDR with NaN = %v %v", q, rej)
	}
}

// genLarge mirrors gen_large in gen.py bit for bit.
func genLarge(m int) []float64 {
	p := make([]float64, m)
	for i := range p {
		u := (float64(uint32(uint64(i)*2654435761)) + 0.5) / float64(1<<32)
		p[i] = u
		if i < m/20 {
			p[i] = (u * u) * (u * u) * 1e-4
		}
	}
	return p
}

func shaBits(b []bool) string {
	buf := make([]byte, (len(b)+7)/8)
	for i, v := range b {
		if v {
			buf[i/8] |= 1 << (i % 8)
		}
	}
	h := sha256.Sum256(buf)
	return hex.EncodeToString(h[:])
}

func shaFloats(x []float64) string {
	buf := make([]byte, 8*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(v))
	}
	h := sha256.Sum256(buf)
	return hex.EncodeToString(h[:])
}

func TestScratchNoAlloc(t *testing.T) {
	p, n := benchData()
	var s Scratch
	s.MannWhitneyGreater(p, n)
	s.Spearman(p[:100], n[:100])
	x := append([]float64{math.NaN()}, p[:99]...)
	y := append([]float64{}, n[:100]...)
	s.Spearman(x, y)
	s.PerCategory(p, [][]float64{n[:144], n[144:288]})
	allocs := testing.AllocsPerRun(20, func() {
		s.MannWhitneyGreater(p, n)
		s.RankSums(p, n)
		s.MannWhitneyTwoSided(p, n)
		s.PerCategory(p, [][]float64{n[:144], n[144:288]})
		s.Spearman(x, y)
		s.Spearman(p[:100], n[:100])
		TTest(p, n, false)
		DPrime(p, n, 0)
		FSI(p, n)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per item, want 0", allocs)
	}
}

func TestDescending(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		in   []float64
		want []int
	}{
		{nil, []int{}},
		{[]float64{0.1, 0.3, nan, 0.3, -1}, []int{1, 3, 0, 4, 2}},
		{[]float64{nan, 0, -inf, inf, nan, 0}, []int{3, 1, 5, 2, 0, 4}},
	} {
		if got := Descending(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Descending(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

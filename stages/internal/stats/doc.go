// Package stats is the numerical core of the selectivity metrics: plain
// functions on float64 slices (gonum style) whose results agree with the
// Python references named in analyses.md — scipy.stats, statsmodels and
// numpy — on the same input.
//
// Every function documents its definition and the reference it reproduces.
// Where analyses.md fixes a convention that the reference does not have (a
// dead item, a constant item, all values tied) the convention is stated on
// the function. The reference values are pinned by fixtures generated with
// scipy/statsmodels (testdata/stats/gen.py) and checked in stats_test.go.
//
// Functions that rank or sort (Mann–Whitney, rank-sum, Spearman) have a
// method form on *Scratch, which reuses its buffers so that unit-level
// streaming code can call them once per item without allocating; the
// package-level forms allocate a fresh Scratch per call. A Scratch must not
// be shared between goroutines.
package stats

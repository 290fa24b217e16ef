#!/usr/bin/python3
"""Reference fixtures for package selectivity/stages/internal/stats.

Draws seeded test items (post-ReLU data with many tied zeros, dead and
constant items, items where the preferred category P responds less, tiny
groups, d' = ±Inf cases, study-sized groups, NaN/±Inf and ties for Spearman,
millions-scale FDR input) and writes the answers of scipy / statsmodels /
numpy to fixtures.json next to this script.

JSON has no NaN or Inf: they are written as the strings "NaN", "Inf", "-Inf".
Floats are written with repr (shortest round-trip), so values are exact.

Where science.md fixes a convention that the reference lacks, the expected
value follows science.md and the raw reference value is kept beside it
under a key ending in "_scipy" (documentation only).

Run:  /usr/bin/python3 testdata/stats/gen.py
Tested with scipy 1.10.1, statsmodels 0.13.5, numpy 1.24.2 (Debian 12).
"""

import hashlib
import json
import math
import os
import warnings

import numpy as np
import scipy
import scipy.stats as ss
import statsmodels
from scipy.stats._mannwhitneyu import _get_mwu_z
from statsmodels.stats.multitest import multipletests

warnings.simplefilter("ignore")
rng = np.random.default_rng(20240601)
HERE = os.path.dirname(os.path.abspath(__file__))


def enc(x):
    """Recursively convert to JSON-safe values (NaN/Inf as strings)."""
    if isinstance(x, (list, tuple)):
        return [enc(v) for v in x]
    if isinstance(x, np.ndarray):
        return [enc(v) for v in x.tolist()]
    if isinstance(x, dict):
        return {k: enc(v) for k, v in x.items()}
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Inf" if x > 0 else "-Inf"
        return x
    return x


def q(a, dec=4):
    """Round to a few decimals: short JSON, natural ties, exact inputs."""
    return np.round(np.asarray(a, dtype=float), dec) + 0.0  # -0 -> 0


def relu(a):
    return np.maximum(a, 0.0)


# ---------------------------------------------------------------- items ----
# An item: P responses and the other categories' responses (N = all others
# pooled). Study layout: faces P = 2 x 144 = 288 images against 8 categories
# of 144 (N = 1152), or one category P = 144 against 9 x 144 (N = 1296).


def item(name, p, others):
    return {"name": name, "p": q(p), "others": [q(o) for o in others]}


items = []


def cats(k, size, loc=0.0, scale=1.0, f=lambda a: a):
    return [f(rng.normal(loc, scale, size)) for _ in range(k)]


# continuous, P higher / lower, study-sized
items.append(item("normal_p_higher_288v8x144",
                  rng.normal(0.3, 1, 288), cats(8, 144)))
items.append(item("normal_p_lower_144v9x144",
                  rng.normal(-0.4, 1, 144), cats(9, 144)))
items.append(item("normal_no_effect_144v9x144",
                  rng.normal(0, 1, 144), cats(9, 144)))
# post-ReLU: many tied zeros
items.append(item("relu_p_higher_288v8x144",
                  relu(rng.normal(0.2, 1, 288)), cats(8, 144, -0.3, 1, relu)))
items.append(item("relu_sparse_p_higher_144v9x144",
                  relu(rng.normal(-1.0, 1, 144)), cats(9, 144, -1.6, 1, relu)))
items.append(item("relu_very_sparse_288v8x144",
                  relu(rng.normal(-2.5, 1, 288)), cats(8, 144, -2.6, 1, relu)))
items.append(item("relu_p_lower_288v8x144",
                  relu(rng.normal(-0.8, 1, 288)), cats(8, 144, 0.0, 1, relu)))
# strong selectivity: p-values deep in the tail (~1e-80)
items.append(item("separated_144v9x144",
                  rng.normal(10, 1, 144), cats(9, 144, 0, 1, relu)))
items.append(item("strong_relu_288v8x144",
                  relu(rng.normal(1.5, 1, 288)), cats(8, 144, -0.5, 1, relu)))
# heavy quantisation: few distinct values, huge tie groups
items.append(item("quantised_288v8x144",
                  np.round(relu(rng.normal(0.5, 1, 288))), cats(8, 144, 0.2, 1,
                  lambda a: np.round(relu(a)))))
# dead item: every response 0
items.append(item("dead_288v8x144", np.zeros(288), [np.zeros(144)] * 8))
# constant item (all tied, non-zero)
items.append(item("constant_144v9x144", np.full(144, 1.5),
                  [np.full(144, 1.5)] * 9))
# P dead, N active; P active, N dead
items.append(item("p_dead_144v9x144", np.zeros(144),
                  cats(9, 144, -1, 1, relu)))
items.append(item("n_dead_144v9x144", relu(rng.normal(-1, 1, 144)),
                  [np.zeros(144)] * 9))
# each group constant, different values: d' = ±Inf, t-test convention
items.append(item("constant_groups_p_higher", np.full(20, 2.0),
                  [np.full(10, 0.5), np.full(10, 0.5)]))
items.append(item("constant_groups_p_lower", np.full(20, 0.25),
                  [np.full(10, 1.0), np.full(10, 1.0)]))
# one group constant only
items.append(item("p_constant_only", np.full(30, 1.0),
                  cats(2, 30, 1, 1, relu)))
# tiny groups
items.append(item("tiny_1v1", [1.0], [[0.5]]))
items.append(item("tiny_1v1_tied", [0.0], [[0.0]]))
items.append(item("tiny_1v2", [2.0], [[0.5, 3.0]]))
items.append(item("tiny_2v1", [0.0, 1.0], [[0.5]]))
items.append(item("tiny_2v2", [0.0, 1.0], [[0.5], [0.25]]))
items.append(item("tiny_2v2_tied", [1.0, 1.0], [[0.0], [1.0]]))
items.append(item("tiny_2v3_zeros", [0.0, 0.7], [[0.0, 0.0], [0.3]]))
items.append(item("small_5v3x4", relu(rng.normal(0.5, 1, 5)),
                  cats(3, 4, 0, 1, relu)))
# infinities inside the samples (rank tests handle them)
items.append(item("with_inf", np.r_[rng.normal(1, 1, 30), [np.inf]],
                  [np.r_[rng.normal(0, 1, 40), [-np.inf, np.inf]]]))
# signed (pre-ReLU) means of mixed sign for FSI
items.append(item("signed_p_pos_n_neg", rng.normal(0.5, 0.2, 50),
                  cats(2, 50, -0.5, 0.2)))
items.append(item("signed_p_neg_n_pos", rng.normal(-0.5, 0.2, 50),
                  cats(2, 50, 0.5, 0.2)))
# FSI: m_P = -m_N != 0 (literal denominator 0, signed rule gives +1)
items.append(item("signed_opposite_equal", [1.0, 3.0], [[-2.0, -2.0]]))

# ----------------------------------------------------------- reference ----


def fsi_ref(mp, mn):
    # science.md: literal formula; dead -> 0; m_P > 0 > m_N -> +1;
    # m_P < 0 < m_N -> -1. The package's |m_P|+|m_N| denominator agrees on
    # all these cases.
    if mp > 0 > mn:
        return 1.0
    if mp < 0 < mn:
        return -1.0
    if mp + mn == 0:
        return 0.0
    if mp >= 0 and mn >= 0:
        return (mp - mn) / (mp + mn)
    # Not covered by science.md (both negative, or one 0 and one negative):
    # the package's convention (m_P - m_N)/(|m_P| + |m_N|).
    return (mp - mn) / (abs(mp) + abs(mn))


def dprime_ref(p, n, ddof):
    d = np.mean(p) - np.mean(n)
    with np.errstate(all="ignore"):
        s = np.sqrt((np.var(p, ddof=ddof) + np.var(n, ddof=ddof)) / 2)
    if len(p) - ddof <= 0 or len(n) - ddof <= 0:
        return math.nan
    if s == 0:
        return 0.0 if d == 0 else math.copysign(math.inf, d)
    return d / s


def noinf(a):
    """+-Inf -> +-1e300: the same ranks, but finite. scipy's NaN check is
    np.isnan(np.sum(a)), so a sample holding both +Inf and -Inf counts as
    NaN in scipy (rankdata returns all NaN, mannwhitneyu NaN); science.md
    ranks +-Inf as the extremes, which this substitution reproduces."""
    a = np.array(a, dtype=float)
    a[a == np.inf] = 1e300
    a[a == -np.inf] = -1e300
    return a


def mwu_ref(p, n):
    raw = None
    if np.isinf(p).any() or np.isinf(n).any():
        raw = ss.mannwhitneyu(p, n, alternative="greater",
                              method="asymptotic").pvalue
        p, n = noinf(p), noinf(n)
    n1, n2 = len(p), len(n)
    res = ss.mannwhitneyu(p, n, alternative="greater", method="asymptotic")
    ranks = ss.rankdata(np.concatenate([p, n]))
    z = float(_get_mwu_z(res.statistic, n1, n2, ranks))
    assert ss.norm.sf(z) == res.pvalue or (res.pvalue == 1.0), (z, res)
    out = {"u": res.statistic, "z": z, "p": res.pvalue}
    if np.all(ranks == ranks[0]):
        out["z_scipy"] = z  # -Inf: scipy divides -0.5 by sigma = 0
        out["z"] = 0.0      # science.md: all values tied -> z = 0, p = 1
    two = ss.mannwhitneyu(p, n, alternative="two-sided", method="asymptotic")
    out["p_two_sided"] = two.pvalue
    rz, rp = ss.ranksums(p, n, alternative="greater")
    out["ranksums_z"], out["ranksums_p"] = rz, rp
    if raw is not None:
        out["p_scipy"] = raw
    return out


def ttest_ref(a, b, welch):
    if len(a) < 2 or len(b) < 2:
        r = ss.ttest_ind(a, b, equal_var=not welch)
        assert math.isnan(r.statistic)
        return {"t": math.nan, "p": math.nan}
    r = ss.ttest_ind(a, b, equal_var=not welch)
    out = {"t": r.statistic, "p": r.pvalue}
    if np.all(a == a[0]) and np.all(b == b[0]):
        # science.md: zero variance in both groups -> t = 0, p = 1
        out["t_scipy"], out["p_scipy"] = r.statistic, r.pvalue
        out["t"], out["p"] = 0.0, 1.0
    return out


def percat_ref(p, others):
    ps = [ss.mannwhitneyu(noinf(p), noinf(c), alternative="two-sided",
                          method="asymptotic").pvalue for c in others]
    return {"max_p": max(ps), "p_mean_highest":
            bool(all(np.mean(p) > np.mean(c) for c in others))}


item_out = []
for it in items:
    p = it["p"]
    others = it["others"]
    n = np.concatenate(others)
    mp, mn = np.mean(p), np.mean(n)
    r = dict(it)
    r["fsi"] = fsi_ref(mp, mn)
    if not (mp >= 0 and mn >= 0) and not (mp > 0 > mn or mp < 0 < mn):
        r["fsi_literal"] = (mp - mn) / (mp + mn)
    r["dprime0"] = dprime_ref(p, n, 0)
    r["dprime1"] = dprime_ref(p, n, 1)
    r["mwu"] = mwu_ref(p, n)
    r["percat"] = percat_ref(p, others)
    r["student"] = ttest_ref(p, n, False)
    r["welch"] = ttest_ref(p, n, True)
    # t-test against the first category alone (the per-domain comparison)
    r["student_first"] = ttest_ref(p, others[0], False)
    r["welch_first"] = ttest_ref(p, others[0], True)
    item_out.append(r)

# FSI for both-negative means: not defined by science.md; the package uses
# (m_P - m_N)/(|m_P| + |m_N|); the literal formula would give the opposite
# sign. Kept as a separate, labelled convention case.
fsi_conv = [
    {"p": [-1.0], "n": [-3.0], "fsi": 0.5, "literal": (-1 + 3) / (-1 - 3)},
    {"p": [-3.0], "n": [-1.0], "fsi": -0.5, "literal": (-3 + 1) / (-3 - 1)},
    {"p": [-1.0], "n": [0.0], "fsi": -1.0, "literal": 1.0},
    {"p": [0.0], "n": [-2.0], "fsi": 1.0, "literal": -1.0},
]

# --------------------------------------------------------- extra t-tests ----
ttests = []


def add_t(name, a, b):
    a, b = q(a, 6), q(b, 6)
    ttests.append({"name": name, "a": a, "b": b,
                   "student": ttest_ref(a, b, False),
                   "welch": ttest_ref(a, b, True)})


add_t("n2_vs_n2", [0.1, 0.4], [0.3, 0.9])
add_t("n2_vs_n3_welch_df", [1.0, 1.2], [0.0, 3.0, -2.0])
add_t("huge_t_tiny_p", rng.normal(5, 0.1, 200), rng.normal(0, 0.1, 1200))
add_t("moderate_t_p_1e-30", rng.normal(0.8, 1, 288), rng.normal(0, 1, 1152))
add_t("small_t", rng.normal(0.001, 1, 100), rng.normal(0, 1, 100))
add_t("one_group_constant", np.full(10, 0.5), rng.normal(0, 1, 12))
add_t("both_dead", np.zeros(288), np.zeros(1152))
add_t("both_constant_equal", np.full(5, 0.75), np.full(7, 0.75))
add_t("both_constant_differ", np.full(5, 2.0), np.full(7, 1.0))
add_t("n1_vs_n5", [1.0], [0.0, 0.5, 1.0, 1.5, 2.0])
add_t("unequal_var_unequal_n", rng.normal(0, 5, 15), rng.normal(1, 0.2, 150))

# ------------------------------------------------------- t distribution ----
tdist = []
for t in [0.0, 1e-8, 1e-3, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 100.0, 1e4, 1e8,
          -2.5, math.inf]:
    for df in [1.0, 2.0, 3.5, 10.0, 37.25, 286.0, 1438.0, 1e6]:
        tdist.append({"t": t, "df": df,
                      "p": 2 * ss.t.sf(abs(t), df) if t != math.inf else 0.0,
                      "p_stdtr": 2 * scipy.special.stdtr(df, -abs(t))})

# ------------------------------------------------------------- normal ----
normal = [{"z": z, "sf": ss.norm.sf(z)} for z in
          [-math.inf, -40.0, -8.0, -1.0, -1e-10, 0.0, 1e-10, 0.5, 0.7071,
           1.0, 3.0, 5.0, 8.0, 10.0, 19.5, 25.0, 37.0, 38.5, 40.0, math.inf]]

# ------------------------------------------------------------ spearman ----
spear = []


def add_s(name, x, y, want=None):
    x, y = np.asarray(x, float), np.asarray(y, float)
    raw = ss.spearmanr(x, y, nan_policy="omit").correlation
    d = {"name": name, "x": x, "y": y, "rho_scipy": raw}
    if want is None and (np.isinf(x).any() or np.isinf(y).any()):
        want = drop_nan_then_scipy(noinf(x), noinf(y))
    if want is None:
        want = raw
    d["rho"] = want
    spear.append(d)


def drop_nan_then_scipy(x, y):
    x, y = noinf(x), noinf(y)
    k = ~(np.isnan(x) | np.isnan(y))
    return ss.spearmanr(x[k], y[k]).correlation


x = q(rng.normal(0, 1, 500))
add_s("continuous_500", x, q(x + rng.normal(0, 1, 500)))
x = np.round(rng.normal(0, 1, 400))
add_s("ties_400", x, np.round(x + rng.normal(0, 2, 400)))
x = q(relu(rng.normal(-0.5, 1, 300)))
add_s("relu_zero_ties_300", x, q(relu(x + rng.normal(-0.3, 1, 300))))
x = q(rng.normal(0, 1, 60))
y = q(-x + rng.normal(0, 0.5, 60))
x[[3, 17, 40]] = np.nan
y[[17, 22]] = np.nan
add_s("nan_pairwise_60", x, y)
x = q(rng.normal(0, 1, 50))
y = q(x + rng.normal(0, 1, 50))
x[[1, 9]] = [np.inf, -np.inf]
y[20] = np.inf
add_s("inf_no_nan_50", x, y)
x = q(rng.normal(0, 1, 50))
y = q(x + rng.normal(0, 1, 50))
x[[1, 9]] = [np.inf, -np.inf]
y[[20, 30]] = [np.inf, np.nan]
# scipy's omit path masks +-Inf too when any NaN is present; science.md
# ranks +-Inf as extremes, so the expected value drops only the NaN pairs.
add_s("inf_and_nan_50", x, y, drop_nan_then_scipy(x, y))
add_s("constant_x", np.full(10, 3.0), np.arange(10.0))
add_s("constant_after_drop", [1.0, 1.0, 2.0, 1.0], [1.0, 2.0, np.nan, 3.0],
      math.nan)
add_s("two_pairs", [1.0, 2.0], [5.0, 3.0])
add_s("perfect_with_ties", [1.0, 2.0, 2.0, 3.0], [10.0, 20.0, 20.0, 30.0])
x = q(rng.normal(0, 1, 3000), 3)
add_s("large_3000", x, q(np.abs(x) + rng.normal(0, 1, 3000), 3))

ranks = []
for v in [[3.0, 1.0, 2.0], [0.0, 0.0, 1.0, 0.0, 2.0, 2.0],
          [np.inf, -np.inf, 0.0, np.inf], [1.0, np.nan, 2.0], [5.0],
          list(np.round(rng.normal(0, 1, 40)))]:
    ranks.append({"x": v, "ranks": ss.rankdata(noinf(v))})

meansem = []
for v in [[1.0, 2.0, 3.0, 4.0], list(q(rng.normal(0, 1, 6))), [0.3],
          [0.1, 0.1, 0.1], list(q(rng.normal(1, 2, 1000)))]:
    v = np.asarray(v)
    meansem.append({"x": v, "mean": np.mean(v), "sem": ss.sem(v)})

# ----------------------------------------------------------------- FDR ----
fdr = []


def fdr_case(name, p, alpha=0.05, full=True):
    p = np.asarray(p, float)
    d = {"name": name, "alpha": alpha}
    if full:
        d["p"] = p
    for meth, key in [("fdr_bh", "bh"), ("fdr_by", "by")]:
        rej, qv, _, _ = multipletests(p, alpha=alpha, method=meth)
        if full:
            d[key] = {"q": qv, "reject": [bool(v) for v in rej]}
        else:
            idx = np.linspace(0, len(p) - 1, 200).astype(int)
            d[key] = {
                "n_reject": int(rej.sum()),
                "reject_sha256": hashlib.sha256(
                    np.packbits(rej, bitorder="little").tobytes()).hexdigest(),
                "q_sha256": hashlib.sha256(
                    qv.astype("<f8").tobytes()).hexdigest(),
                "sample_idx": idx, "sample_q": qv[idx],
            }
    fdr.append(d)


m = 2000
p = np.r_[rng.uniform(0, 1, m - 200), rng.uniform(0, 1, 200) ** 6 * 1e-2]
rng.shuffle(p)
fdr_case("mixture_2000", p)
# p-values exactly on the BH threshold (k/m)*alpha, and ties
m = 20
p = np.array([(k / m) * 0.05 for k in range(1, m + 1)])
p[12:] = 0.9
fdr_case("on_threshold_20", p)
fdr_case("ties_and_ones", [0.01, 0.01, 0.01, 0.5, 1.0, 1.0, 0.0, 0.02, 0.04])
fdr_case("single", [0.03])
fdr_case("none_rejected", [0.2, 0.5, 0.9, 0.06])
fdr_case("alpha_0.1", rng.uniform(0, 0.2, 30), alpha=0.1)
fdr_case("t_test_pvals_like", np.r_[np.ones(50), rng.uniform(0, 1e-3, 20),
                                     rng.uniform(0, 1, 30)])


def gen_large(m):
    # Deterministic p-values that Go recomputes bit for bit:
    # u_i = ((i * 2654435761) mod 2^32 + 0.5) / 2^32 ; the first m/20 are
    # signals u^4 * 1e-4, the rest are u.
    i = np.arange(m, dtype=np.uint64)
    u = (((i * np.uint64(2654435761)) % np.uint64(1 << 32)).astype(float)
         + 0.5) / float(1 << 32)
    p = u.copy()
    s = m // 20
    p[:s] = (u[:s] * u[:s]) * (u[:s] * u[:s]) * 1e-4
    return p


fdr_case("generated_1000000", gen_large(1_000_000), full=False)
fdr_large_m = 1_000_000

# ------------------------------------------------------------- write ----
out = {
    "versions": {"scipy": scipy.__version__, "numpy": np.__version__,
                 "statsmodels": statsmodels.__version__},
    "items": item_out,
    "fsi_convention": fsi_conv,
    "ttests": ttests,
    "tdist": tdist,
    "normal": normal,
    "spearman": spear,
    "rank": ranks,
    "meansem": meansem,
    "fdr": fdr,
    "harmonic": [{"m": m, "sum": np.sum(1. / np.arange(1, m + 1))}
                 for m in [1, 7, 8, 9, 128, 129, 1000, 8191, 8192, 8193,
                           8200, 65536, 100001, 1_000_000, 3_200_000]],
}
path = os.path.join(HERE, "fixtures.json")
with open(path, "w") as f:
    json.dump(enc(out), f, separators=(",", ":"))
    f.write("\n")
print(path, os.path.getsize(path), "bytes")

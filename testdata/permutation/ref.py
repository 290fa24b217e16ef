"""The metrics of stages/internal/study recomputed with numpy / scipy / statsmodels
on any design over the metric fixture's images, for testdata/permutation/gen.py and
testdata/reliability/gen.py.

A design is given by positions, as in the Go code (metric.Study): the
included images in the metric kind's order (P by row, then N by domain,
category and row), the comparison groups and the categories of N as runs of
positions. A view of it is a list `pick` of positions: position j of the
view holds the responses of position pick[j]; a permutation keeps the
labels of the base design, a subset takes the labels of the positions it
keeps. science.md's conventions (constant groups, all values tied) are
those of testdata/metric/gen.py.
"""

import json
import math
import os

import numpy as np
import scipy.stats as ss
from scipy.stats._mannwhitneyu import _get_mwu_z
from statsmodels.stats.multitest import multipletests

HERE = os.path.dirname(os.path.abspath(__file__))
METRIC_FIXTURE = os.path.join(HERE, "..", "metric", "fixtures.json")
ORDER = ["fsi", "dprime", "wilcoxon", "ttest"]
DEFAULTS = {
    "metrics": ["fsi", "dprime", "wilcoxon", "ttest"],
    "preferred": "faces", "fsi_threshold": 0.3, "dprime_threshold": 0.65,
    "ddof": 0, "wilcoxon_test": "mannwhitneyu", "alpha": 0.001,
    "ttest": "student", "fdr": "bh", "q": 0.05, "compare": "domains",
    "include_scrambled": False,
}
MASK64 = (1 << 64) - 1


def dec(x):
    if isinstance(x, str):
        return {"NaN": math.nan, "Inf": math.inf, "-Inf": -math.inf}[x]
    return x


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


def load():
    """The metric fixture's images and layers (unit level and mean, l2, max)."""
    with open(METRIC_FIXTURE) as f:
        fx = json.load(f)
    im = fx["images"]
    inputs = {"unit": {}, "mean": {}, "l2": {}, "max": {}}
    for l in fx["layers"]:
        inputs["unit"][l["name"]] = np.array([[dec(v) for v in r] for r in l["acts"]], np.float32).astype(np.float64)
        for m in ("mean", "l2", "max"):
            inputs[m][l["name"]] = np.array([[dec(v) for v in r] for r in fx["aggregate"][l["name"]][m]], np.float32).astype(np.float64)
    return np.array(im["category"]), np.array(im["domain"]), inputs


class SplitMix64:
    """stats.SplitMix64: splitmix64 and Lemire's multiply-shift, Fisher-Yates."""

    def __init__(self, seed):
        self.s = seed & MASK64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        return (self.next() * n) >> 64

    def shuffle(self, a):
        for i in range(len(a) - 1, 0, -1):
            j = self.below(i + 1)
            a[i], a[j] = a[j], a[i]


def first_seen(a):
    out = []
    for v in a:
        if v not in out:
            out.append(v)
    return out


def design(CAT, DOM, pr):
    """order (position -> row), nP, the comparison groups and the
    categories of N as (name, lo, hi) runs of positions."""
    dom_order, cat_order = first_seen(DOM), first_seen(CAT)
    pref = pr["preferred"]
    pmask = DOM == pref if pref in dom_order else CAT == pref
    scr = (CAT == "scrambled") | (DOM == "scrambled")
    inc = pmask | ~scr | pr["include_scrambled"]
    P = list(np.flatnonzero(pmask))
    N = sorted((i for i in range(len(CAT)) if inc[i] and not pmask[i]),
               key=lambda i: (dom_order.index(DOM[i]), cat_order.index(CAT[i]), i))
    order = np.array(P + N)

    def runs(key):
        out = []
        for pos in range(len(P), len(order)):
            k = key[order[pos]]
            if not out or out[-1][0] != k:
                out.append([k, pos, pos])
            out[-1][2] = pos + 1
        return [tuple(g) for g in out]

    groups = runs(DOM if pr["compare"] == "domains" else CAT)
    return order, len(P), groups, runs(CAT)


def subset(nP, groups, cats, pos):
    """The design restricted to the increasing positions pos."""
    pos = np.asarray(pos)
    sub = lambda gs: [(n, int(np.searchsorted(pos, lo)), int(np.searchsorted(pos, hi)))  # noqa: E731
                      for n, lo, hi in gs if np.searchsorted(pos, hi) > np.searchsorted(pos, lo)]
    return int(np.sum(pos < nP)), sub(groups), sub(cats)


def const(x):
    return bool(np.all(x == x[0]))


def var(x, ddof):
    return 0.0 if const(x) else float(x.var(ddof=ddof))


def mean_c(x):
    return float(x[0]) if const(x) else float(x.mean())


def mwu_greater(p, n):
    res = ss.mannwhitneyu(p, n, alternative="greater", method="asymptotic")
    ranks = ss.rankdata(np.concatenate([p, n]))
    if np.all(ranks == ranks[0]):
        return 0.0, 1.0
    return float(_get_mwu_z(res.statistic, len(p), len(n), ranks)), float(res.pvalue)


def item(x, pr, nP, groups, cats):
    p, n = x[:nP], x[nP:]
    mp, mn = float(p.mean()), float(n.mean())
    den = abs(mp) + abs(mn)
    fsi = 0.0 if den == 0 else (mp - mn) / den
    num = mean_c(p) - mean_c(n)
    sd = math.sqrt((var(p, pr["ddof"]) + var(n, pr["ddof"])) / 2)
    dp = (num / sd) if sd != 0 else (0.0 if num == 0 else math.copysign(math.inf, num))
    test = pr["wilcoxon_test"]
    if test == "mannwhitneyu":
        z, pv = mwu_greater(p, n)
        wsel = pv < pr["alpha"]
    elif test == "ranksums":
        z, pv = ss.ranksums(p, n, alternative="greater")
        wsel = pv < pr["alpha"]
    else:
        zs, ps, highest = [], [], True
        for _, lo, hi in cats:
            c = x[lo:hi]
            ps.append(ss.mannwhitneyu(p, c, alternative="two-sided", method="asymptotic").pvalue)
            zs.append(mwu_greater(p, c)[0])
            highest = highest and p.mean() > c.mean()
        z, pv = min(zs), max(ps)
        wsel = bool(pv < pr["alpha"] and highest)
    ts, tps = [], []
    for _, lo, hi in groups:
        c = x[lo:hi]
        if const(p) and const(c):
            t, tp = 0.0, 1.0
        else:
            t, tp = ss.ttest_ind(p, c, equal_var=pr["ttest"] == "student")
        ts.append(float(t))
        tps.append(float(tp))
    return fsi, dp, float(z), bool(wsel), min(ts), tps


def layer_metrics(Xv, pr, nP, groups, cats):
    """Per metric: (values for ranking, selected) over the items of Xv
    (view positions x items)."""
    res = [item(Xv[:, i], pr, nP, groups, cats) for i in range(Xv.shape[1])]
    fsi = np.array([r[0] for r in res])
    dp = np.array([r[1] for r in res])
    wz = np.array([r[2] for r in res])
    wsel = np.array([r[3] for r in res], bool)
    tt = np.array([r[4] for r in res])
    pmat = np.array([r[5] for r in res])
    rej = np.ones(len(res), bool)
    for g in range(len(groups)):
        rej &= multipletests(pmat[:, g], alpha=pr["q"], method={"bh": "fdr_bh", "by": "fdr_by"}[pr["fdr"]])[0]
    out = {
        "fsi": (fsi, fsi > pr["fsi_threshold"]),
        "dprime": (dp, dp > pr["dprime_threshold"]),
        "wilcoxon": (wz, wsel),
        "ttest": (tt, rej & (tt > 0)),
    }
    return {m: out[m] for m in ORDER if m in pr["metrics"]}


def tie_round(v):
    """The Go code's rounding before ranking: 40 significant bits of each
    finite value (2048 added to the IEEE bit pattern, the low 12 bits
    cleared), so that values equal up to rounding error tie."""
    v = np.array(v, np.float64)
    b = v.view(np.uint64).copy()
    fin = np.isfinite(v)
    b[fin] = (b[fin] + np.uint64(1 << 11)) & ~np.uint64((1 << 12) - 1)
    return b.view(np.float64)


def spearman(x, y):
    x, y = tie_round(x), tie_round(y)
    x, y = np.clip(x, -1e300, 1e300), np.clip(y, -1e300, 1e300)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    return float(ss.spearmanr(x, y).correlation)

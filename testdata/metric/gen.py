#!/usr/bin/python3
"""Reference fixtures for stages/aggregate, stages/internal/study (the metric kind) and stages/correlate.

Draws a small seeded study: 56 images in fLOC's 11 categories (groups of 3
to 6, shuffled order) and two post-ReLU layers, conv_a (24 x 2 x 4 = 192
units) and conv_b (5 x 2 x 2 = 20 units), with the hard cases: dead kernels
and dead units inside live kernels, a constant kernel, many tied zeros,
sparse ties, faces lower than the rest, d' = +Inf and -Inf (both groups
constant), a constant preferred group, values scaled by 2^-8 and 2^8.

It writes fixtures.json next to this script with
  - the images table and the activation matrices (float32 values);
  - the kernel-level aggregations (mean, l2, max over space, in float64,
    stored float32 as the aggregate kind stores them);
  - for each case (a level and a set of metric parameters) the answers of
    numpy / scipy / statsmodels per item: FSI, d', the Wilcoxon z and p,
    the t-test intersection (min t, every comparison's p and FDR q), the
    selected items of every metric, the summary rows, scipy.stats.spearmanr
    between the metrics' ranking values, and per layer the mean and
    scipy.stats.sem of those rho (the inter-metric consistency).

JSON has no NaN or Inf: they are written as the strings "NaN", "Inf", "-Inf".
Floats are written with repr (shortest round-trip), so values are exact.

Where science.md fixes a convention the reference lacks, the expected value
follows science.md, as stated at each place: a group whose values are all
equal has variance exactly 0; d' 0/0 = 0 and x/0 = +-Inf; Mann-Whitney with
all values tied gives z = 0, p = 1; a t-test with both groups constant gives
t = 0, p = 1 (scipy: NaN or +-Inf); Spearman ranks +-Inf as extremes (here:
+-Inf replaced by +-1e300 before spearmanr, the same ranks).

The per-category rank-sum variant (Baek et al.) has no z of its own; its
value for ranking is, as in the Go code, the smallest one-sided ("greater")
Mann-Whitney z of P against each category of N.

Image order inside the non-preferred set N follows the Go code (domain in
order of first appearance in the images table, then category likewise, then
row), so that every sum is taken in the same order as in Go.

Run:  /usr/bin/python3 testdata/metric/gen.py
Tested with scipy 1.10.1, statsmodels 0.13.5, numpy 1.24.2 (Debian 12).
"""

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
rng = np.random.default_rng(20240615)
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


# ---------------------------------------------------------------- images ----
CATS = [
    ("adult", "faces", 6), ("child", "faces", 5),
    ("body", "bodies", 6), ("limb", "bodies", 5),
    ("word", "characters", 6), ("number", "characters", 5),
    ("car", "objects", 6), ("instrument", "objects", 4),
    ("house", "places", 6), ("corridor", "places", 3),
    ("scrambled", "scrambled", 4),
]
images = []
for c, d, n in CATS:
    for k in range(1, n + 1):
        images.append({"path": f"stimuli/{c}/{c}-{k}.jpg", "category": c,
                       "domain": d, "identity": "", "image": k})
images = [images[i] for i in rng.permutation(len(images))]
NI = len(images)
CAT = np.array([im["category"] for im in images])
DOM = np.array([im["domain"] for im in images])


def first_seen(a):
    out = []
    for v in a:
        if v not in out:
            out.append(v)
    return out


DOM_ORDER = first_seen(DOM)
CAT_ORDER = first_seen(CAT)

# ----------------------------------------------------------- activations ----
relu = lambda a: np.maximum(a, 0.0)  # noqa: E731


def kernel(kind, H, W):
    """One kernel's responses, images x H x W, before rounding."""
    shape = (NI, H, W)
    faces = (DOM == "faces")[:, None, None]
    noise = rng.standard_normal(shape)
    if kind == "dead":
        return np.zeros(shape)
    if kind == "const":
        return np.full(shape, 0.5)
    if kind == "faces_strong":
        return relu(np.where(faces, 2.0, 0.2) + 0.5 * noise)
    if kind == "faces_weak":
        return relu(np.where(faces, 0.6, 0.4) + 0.5 * noise)
    if kind == "faces_lower":
        return relu(np.where(faces, -0.5, 1.0) + 0.5 * noise)
    if kind == "inf_pos":  # both groups constant, P higher: d' = +Inf
        return np.where(faces, 1.0, 0.0) + np.zeros(shape)
    if kind == "inf_neg":  # both groups constant, P lower: d' = -Inf
        return np.where(faces, 0.0, 0.25) + np.zeros(shape)
    if kind == "sparse":  # mostly tied zeros, a few tied positives
        return (rng.random(shape) < 0.12) * rng.integers(1, 4, shape) * 0.5
    if kind == "faces_const":  # P constant, N noisy
        return np.where(faces, 0.75, relu(0.3 + 0.3 * noise))
    if kind == "bodies":
        return relu(np.where((DOM == "bodies")[:, None, None], 1.5, 0.3) + 0.4 * noise)
    if kind == "random":
        mu = {c: rng.normal(0.0, 1.0) for c in CAT_ORDER}
        sd = rng.uniform(0.2, 1.0)
        base = np.array([mu[c] for c in CAT])[:, None, None]
        gain = rng.uniform(0.5, 1.5, (1, H, W))
        gain[0, 0, 0] = 0.0 if rng.random() < 0.5 else gain[0, 0, 0]  # dead unit
        return relu(gain * (base + sd * noise))
    raise ValueError(kind)


def layer(kinds, H, W):
    C = len(kinds)
    a = np.zeros((NI, C, H, W))
    for c, kind in enumerate(kinds):
        k = np.round(kernel(kind, H, W), 2)  # round: ties, exact repeats
        if kind == "random":
            k = k * [2.0 ** -8, 1.0, 2.0 ** 8][c % 3]  # exact scaling
        a[:, c] = k
    return a.astype(np.float32)


KINDS_A = ["dead", "const", "faces_strong", "faces_weak", "faces_lower",
           "inf_pos", "inf_neg", "sparse", "faces_const", "bodies",
           "faces_strong", "sparse"] + ["random"] * 12
KINDS_B = ["faces_strong", "random", "random", "sparse", "faces_lower"]
LAYERS = {"conv_a": layer(KINDS_A, 2, 4), "conv_b": layer(KINDS_B, 2, 2)}


def aggregate(a, method):
    """Per image and channel, over space, in float64; stored as float32.
    Sums are numpy's (np.sum of each contiguous 1-D spatial map)."""
    n, C = a.shape[:2]
    out = np.zeros((n, C))
    x64 = a.astype(np.float64).reshape(n, C, -1)
    for i in range(n):
        for c in range(C):
            v = np.ascontiguousarray(x64[i, c])
            if method == "mean":
                out[i, c] = np.sum(v) / v.size
            elif method == "l2":
                out[i, c] = np.sqrt(np.sum(v * v))
            else:
                out[i, c] = np.max(v)
    return out.astype(np.float32)


AGG = {name: {m: aggregate(a, m) for m in ("mean", "l2", "max")}
       for name, a in LAYERS.items()}

# ---------------------------------------------------------------- metrics ----
DEFAULTS = {
    "metrics": ["fsi", "dprime", "wilcoxon", "ttest"],
    "preferred": "faces", "fsi_threshold": 0.3, "dprime_threshold": 0.65,
    "ddof": 0, "wilcoxon_test": "mannwhitneyu", "alpha": 0.001,
    "ttest": "student", "fdr": "bh", "q": 0.05, "compare": "domains",
    "include_scrambled": False,
}
RANK_COL = {"fsi": "fsi", "dprime": "dprime", "wilcoxon": "wilcoxon_z",
            "ttest": "ttest_t"}
ORDER = ["fsi", "dprime", "wilcoxon", "ttest"]


def design(pr):
    """P, N (in the Go order) and the comparison groups as runs of N."""
    pref = pr["preferred"]
    pmask = DOM == pref if pref in DOM_ORDER else CAT == pref
    assert pmask.any()
    scr = (CAT == "scrambled") | (DOM == "scrambled")
    inc = pmask | ~scr | pr["include_scrambled"]
    P = np.flatnonzero(pmask)
    N = sorted((i for i in range(NI) if inc[i] and not pmask[i]),
               key=lambda i: (DOM_ORDER.index(DOM[i]), CAT_ORDER.index(CAT[i]), i))

    def runs(key):
        names, idx = [], []
        for i in N:
            if not names or names[-1] != key[i]:
                names.append(key[i])
                idx.append([])
            idx[-1].append(i)
        return names, [np.array(g) for g in idx]

    groups = runs(DOM if pr["compare"] == "domains" else CAT)
    cats = runs(CAT)
    return P, np.array(N), groups, cats


def const(x):
    return bool(np.all(x == x[0]))


def var(x, ddof):
    # science.md / stats.MeanVar: all values equal -> variance exactly 0.
    return 0.0 if const(x) else float(x.var(ddof=ddof))


def mean_c(x):
    return float(x[0]) if const(x) else float(x.mean())


def mwu_greater(p, n):
    res = ss.mannwhitneyu(p, n, alternative="greater", method="asymptotic")
    ranks = ss.rankdata(np.concatenate([p, n]))
    if np.all(ranks == ranks[0]):
        return 0.0, 1.0  # science.md: all tied -> z = 0, p = 1
    z = float(_get_mwu_z(res.statistic, len(p), len(n), ranks))
    return z, float(res.pvalue)


def item_metrics(x, pr, P, N, groups, cats):
    p, n = x[P], x[N]
    out = {}
    mp, mn = float(p.mean()), float(n.mean())
    den = abs(mp) + abs(mn)
    out["fsi"] = 0.0 if den == 0 else (mp - mn) / den
    num = mean_c(p) - mean_c(n)
    sd = math.sqrt((var(p, pr["ddof"]) + var(n, pr["ddof"])) / 2)
    out["dprime"] = (num / sd) if sd != 0 else (0.0 if num == 0 else math.copysign(math.inf, num))
    test = pr["wilcoxon_test"]
    if test == "mannwhitneyu":
        z, pv = mwu_greater(p, n)
        out["wsel"] = pv < pr["alpha"]
    elif test == "ranksums":
        z, pv = ss.ranksums(p, n, alternative="greater")
        out["wsel"] = pv < pr["alpha"]
    else:
        zs, ps, highest = [], [], True
        for g in cats[1]:
            c = x[g]
            ps.append(ss.mannwhitneyu(p, c, alternative="two-sided", method="asymptotic").pvalue)
            zs.append(mwu_greater(p, c)[0])
            highest = highest and p.mean() > c.mean()
        z, pv = min(zs), max(ps)
        out["wsel"] = bool(pv < pr["alpha"] and highest)
    out["wilcoxon_z"], out["wilcoxon_p"] = float(z), float(pv)
    ts, tps = [], []
    for g in groups[1]:
        c = x[g]
        if const(p) and const(c):
            t, tp = 0.0, 1.0  # science.md; scipy gives NaN or +-Inf
        else:
            t, tp = ss.ttest_ind(p, c, equal_var=pr["ttest"] == "student")
        ts.append(float(t))
        tps.append(float(tp))
    out["ttest_t"], out["ttest_p"] = min(ts), tps
    return out


def run_case(name, level, params):
    pr = dict(DEFAULTS, **params)
    P, N, groups, cats = design(pr)
    case = {"name": name, "input": level, "params": params, "layers": {},
            "summary": [], "spearman": [], "consistency": []}
    for lname, acts in LAYERS.items():
        if level == "unit":
            X = acts.reshape(NI, -1).astype(np.float64)
        else:
            X = AGG[lname][level].astype(np.float64)
        items = X.shape[1]
        res = [item_metrics(X[:, i], pr, P, N, groups, cats) for i in range(items)]
        col = lambda k: np.array([r[k] for r in res])  # noqa: E731
        L = {"items": items, "groups": groups[0], "selected": {}}
        for k in ("fsi", "dprime", "wilcoxon_z", "wilcoxon_p", "ttest_t"):
            L[k] = col(k)
        pmat = np.array([r["ttest_p"] for r in res])  # items x groups
        method = {"bh": "fdr_bh", "by": "fdr_by"}[pr["fdr"]]
        rej_all = np.ones(items, bool)
        L["ttest_p"], L["ttest_q"] = {}, {}
        for g, gname in enumerate(groups[0]):
            rej, qv = multipletests(pmat[:, g], alpha=pr["q"], method=method)[:2]
            L["ttest_p"][gname], L["ttest_q"][gname] = pmat[:, g], qv
            rej_all &= rej
        sel = {
            "fsi": L["fsi"] > pr["fsi_threshold"],
            "dprime": L["dprime"] > pr["dprime_threshold"],
            "wilcoxon": col("wsel").astype(bool),
            "ttest": rej_all & (L["ttest_t"] > 0),
        }
        for m in ORDER:
            if m not in pr["metrics"]:
                continue
            L["selected"][m] = np.flatnonzero(sel[m])
            k = int(sel[m].sum())
            case["summary"].append({
                "layer": lname, "level": "unit" if level == "unit" else "kernel",
                "aggregation": "" if level == "unit" else level, "metric": m,
                "items": items, "selected": k, "percent": 100.0 * k / items})
        ms = [m for m in ORDER if m in pr["metrics"]]
        rhos = []
        for a in range(len(ms)):
            for b in range(a + 1, len(ms)):
                x = np.clip(L[RANK_COL[ms[a]]], -1e300, 1e300)  # +-Inf as extremes
                y = np.clip(L[RANK_COL[ms[b]]], -1e300, 1e300)
                ok = ~(np.isnan(x) | np.isnan(y))
                rho = ss.spearmanr(x, y, nan_policy="omit").correlation
                case["spearman"].append({"layer": lname, "a": ms[a], "b": ms[b],
                                         "rho": float(rho), "n": int(ok.sum())})
                rhos.append(rho)
        rhos = np.array(rhos)[~np.isnan(rhos)] if rhos else np.zeros(0)
        case["consistency"].append({
            "layer": lname, "pairs": len(rhos),
            "mean": float(np.mean(rhos)) if len(rhos) else math.nan,
            "sem": float(ss.sem(rhos)) if len(rhos) > 1 else math.nan})
        case["layers"][lname] = L
    return case


CASES = [
    ("default", "unit", {}),
    ("ranksums", "unit", {"wilcoxon_test": "ranksums"}),
    ("per_category", "unit", {"wilcoxon_test": "per_category"}),
    ("welch", "unit", {"ttest": "welch"}),
    ("by", "unit", {"fdr": "by"}),
    ("categories", "unit", {"compare": "categories"}),
    ("ddof1", "unit", {"ddof": 1}),
    ("scrambled", "unit", {"include_scrambled": True}),
    ("scrambled_categories", "unit", {"include_scrambled": True, "compare": "categories"}),
    ("pref_adult", "unit", {"preferred": "adult"}),
    ("pref_places_thresholds", "unit",
     {"preferred": "places", "fsi_threshold": 0.1, "dprime_threshold": 1.0,
      "alpha": 0.01, "q": 0.2}),
    ("subset", "unit", {"metrics": ["ttest", "fsi"]}),
    ("kernel_mean", "mean", {}),
    ("kernel_l2", "l2", {}),
    ("kernel_max", "max", {}),
    ("kernel_l2_variants", "l2",
     {"wilcoxon_test": "per_category", "ttest": "welch", "fdr": "by",
      "compare": "categories", "ddof": 1}),
]

out = {
    "versions": {"numpy": np.__version__, "scipy": scipy.__version__,
                 "statsmodels": statsmodels.__version__},
    "images": {k: [im[k] for im in images] for k in ("path", "category", "domain", "identity", "image")},
    "layers": [{"name": n, "shape": list(a.shape[1:]), "acts": a.reshape(NI, -1).astype(np.float64)}
               for n, a in LAYERS.items()],
    "aggregate": {n: {m: v.astype(np.float64) for m, v in d.items()} for n, d in AGG.items()},
    "cases": [run_case(*c) for c in CASES],
}
with open(os.path.join(HERE, "fixtures.json"), "w") as f:
    json.dump(enc(out), f, separators=(",", ":"))
    f.write("\n")
for c in out["cases"]:
    print(c["name"], " ".join(f'{s["layer"]}/{s["metric"]}={s["selected"]}' for s in c["summary"]))

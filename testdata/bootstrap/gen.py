#!/usr/bin/python3
"""Reference fixture for stages/bootstrap: the stratified bootstrap over
images recomputed with numpy / scipy / statsmodels (../permutation/ref.py)
on the metric fixture's images and layers (testdata/metric/fixtures.json).

The draws are redrawn from the seed as the Go code draws them
(stats.SplitMix64; per draw, per category in the order of its first
position, each of its positions in increasing order takes the responses of
the category's position number below(n)) and stored, so that the Go test
checks its own draws too. Labels stay: position j keeps its labels and
takes the responses of position pick[j]. Per case, layer, metric and draw
the selected count; per layer and draw the consistency, the mean over the
metric pairs (NaN left out) of scipy.stats.spearmanr of the values for
ranking rounded to 40 significant bits (tie_round, as the Go code);
per layer and metric the observed % selected and consistency and the
numpy.nanmean and numpy.nanquantile (0.025, 0.975) over the draws.

Run:  /usr/bin/python3 testdata/bootstrap/gen.py
Tested with scipy 1.10.1, statsmodels 0.13.5, numpy 1.24.2 (Debian 12).
"""

import json
import math
import os
import sys
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "permutation"))
from ref import DEFAULTS, ORDER, SplitMix64, design, enc, layer_metrics, load, spearman  # noqa: E402

warnings.simplefilter("ignore")

CASES = [
    ("unit_default", "unit", 12, 4, {}),
    ("l2_variants", "l2", 15, 8, {"wilcoxon_test": "ranksums", "ttest": "welch", "compare": "categories"}),
]


def draws(cats, B, seed):
    names, by = [], {}
    for j, c in enumerate(cats):
        if c not in by:
            names.append(c)
            by[c] = []
        by[c].append(j)
    r = SplitMix64(seed)
    out = []
    for _ in range(B):
        pick = [0] * len(cats)
        for c in names:
            pos = by[c]
            for j in pos:
                pick[j] = pos[r.below(len(pos))]
        out.append(pick)
    return out


def consistency(res):
    ms = [m for m in ORDER if m in res]
    rhos = [spearman(res[a][0], res[b][0]) for i, a in enumerate(ms) for b in ms[i + 1:]]
    rhos = [r for r in rhos if not math.isnan(r)]
    return (float(np.mean(rhos)) if rhos else math.nan), len(rhos)


def run_case(CAT, DOM, inputs, name, level, B, seed, params):
    pr = dict(DEFAULTS, **params)
    order, nP, groups, cats = design(CAT, DOM, pr)
    ds = draws([CAT[i] for i in order], B, seed)
    case = {"name": name, "input": level, "draws": B, "seed": seed, "params": params,
            "picks": ds, "percent": [], "consistency": [], "summary": []}
    nq = lambda v: np.nanquantile(v, [0.025, 0.975]) if not np.all(np.isnan(v)) else [math.nan] * 2  # noqa: E731
    for lname in sorted(inputs[level]):
        X = inputs[level][lname][order]
        items = X.shape[1]
        obs = layer_metrics(X, pr, nP, groups, cats)
        obs_rho = consistency(obs)[0]
        counts = {m: [] for m in obs}
        rhos = []
        for b, pick in enumerate(ds):
            res = layer_metrics(X[pick], pr, nP, groups, cats)
            rho, pairs = consistency(res)
            rhos.append(rho)
            case["consistency"].append({"layer": lname, "draw": b, "mean_rho": rho, "pairs": pairs})
            for m in ORDER:
                if m in res:
                    k = int(res[m][1].sum())
                    counts[m].append(k)
                    case["percent"].append({"layer": lname, "metric": m, "draw": b, "selected": k})
        rq = nq(np.array(rhos))
        for m in ORDER:
            if m not in obs:
                continue
            pct = 100.0 * np.array(counts[m]) / items
            q = nq(pct)
            case["summary"].append({
                "layer": lname, "metric": m,
                "observed_percent": 100.0 * obs[m][1].sum() / items, "percent_mean": float(np.mean(pct)),
                "percent_q025": q[0], "percent_q975": q[1],
                "observed_rho": obs_rho, "rho_mean": float(np.nanmean(rhos)), "rho_q025": rq[0], "rho_q975": rq[1]})
    return case


def main():
    CAT, DOM, inputs = load()
    out = {"cases": [run_case(CAT, DOM, inputs, *c) for c in CASES]}
    with open(os.path.join(HERE, "fixtures.json"), "w") as f:
        json.dump(enc(out), f, separators=(",", ":"))
        f.write("\n")
    for c in out["cases"]:
        print(c["name"], " ".join(f'{s["layer"]}/{s["metric"]}: {s["observed_percent"]:.1f}% [{s["percent_q025"]:.1f}, {s["percent_q975"]:.1f}]'
                                  for s in c["summary"]))


if __name__ == "__main__":
    main()

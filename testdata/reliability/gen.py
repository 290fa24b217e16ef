#!/usr/bin/python3
"""Reference fixture for stages/reliability: split-half reliability
recomputed with numpy / scipy / statsmodels (../permutation/ref.py) on the metric
fixture's images and layers (testdata/metric/fixtures.json).

The splits are redrawn from the seed as the Go code draws them
(stats.SplitMix64; per split, per category in the order of its first
position, its increasing positions shuffled by Fisher-Yates from the end;
the first floor(n/2) to half a, the rest to half b) and stored, so that the
Go test checks its own draws too. Each half is the design restricted to its
positions. Per case, layer, metric and split: scipy.stats.spearmanr of the
values for ranking on the two halves, rounded to 40 significant bits as
the Go code rounds them (tie_round: values equal up to rounding error tie;
NaN pairs dropped, +-Inf as extremes: clipped to +-1e300 first, the same
ranks), its Spearman-Brown correction
2r/(1+r), the Jaccard overlap of the selected sets (NaN when both are
empty) and the selected counts; per layer and metric numpy.nanmean and
numpy.nanquantile (0.025, 0.975) over the splits.

Run:  /usr/bin/python3 testdata/reliability/gen.py
Tested with scipy 1.10.1, statsmodels 0.13.5, numpy 1.24.2 (Debian 12).
"""

import json
import math
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "permutation"))
from ref import DEFAULTS, ORDER, SplitMix64, design, enc, layer_metrics, load, spearman, subset  # noqa: E402

warnings.simplefilter("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))

CASES = [
    ("unit_default", "unit", 12, 5, {}),
    ("mean_variants", "mean", 10, 9,
     {"wilcoxon_test": "per_category", "ttest": "welch", "fdr": "by", "ddof": 1,
      "alpha": 0.01, "q": 0.2}),
    ("max_ranksums", "max", 8, 2, {"wilcoxon_test": "ranksums", "metrics": ["wilcoxon", "fsi"]}),
]


def halves(cats, R, seed):
    names, by = [], {}
    for j, c in enumerate(cats):
        if c not in by:
            names.append(c)
            by[c] = []
        by[c].append(j)
    r = SplitMix64(seed)
    out = []
    for _ in range(R):
        a, b = [], []
        for c in names:
            pos = list(by[c])
            r.shuffle(pos)
            a += pos[:len(pos) // 2]
            b += pos[len(pos) // 2:]
        out.append((sorted(a), sorted(b)))
    return out


def run_case(CAT, DOM, inputs, name, level, R, seed, params):
    pr = dict(DEFAULTS, **params)
    order, nP, groups, cats = design(CAT, DOM, pr)
    hs = halves([CAT[i] for i in order], R, seed)
    case = {"name": name, "input": level, "splits": R, "seed": seed, "params": params,
            "halves": hs, "rows": [], "summary": []}
    for lname in sorted(inputs[level]):
        X = inputs[level][lname][order]
        items = X.shape[1]
        per = {m: {"rel": [], "jac": [], "rho": [], "pct": []} for m in ORDER if m in pr["metrics"]}
        for s, (a, b) in enumerate(hs):
            ra = layer_metrics(X[a], pr, *subset(nP, groups, cats, a))
            rb = layer_metrics(X[b], pr, *subset(nP, groups, cats, b))
            for m in per:
                rho = spearman(ra[m][0], rb[m][0])
                rel = 2 * rho / (1 + rho)
                sa, sb = ra[m][1], rb[m][1]
                union = int((sa | sb).sum())
                jac = (sa & sb).sum() / union if union else math.nan
                case["rows"].append({"layer": lname, "metric": m, "split": s, "items": items,
                                     "spearman": rho, "reliability": rel, "jaccard": jac,
                                     "selected_a": int(sa.sum()), "selected_b": int(sb.sum())})
                for k, v in (("rel", rel), ("jac", jac), ("rho", rho)):
                    per[m][k].append(v)
                per[m]["pct"] += [100.0 * sa.sum() / items, 100.0 * sb.sum() / items]
        for m, d in per.items():
            nq = lambda v: np.nanquantile(v, [0.025, 0.975]) if not np.all(np.isnan(v)) else [math.nan] * 2  # noqa: E731
            rq, jq = nq(d["rel"]), nq(d["jac"])
            nm = lambda v: float(np.nanmean(v)) if not np.all(np.isnan(v)) else math.nan  # noqa: E731
            case["summary"].append({
                "layer": lname, "metric": m, "items": items,
                "spearman_mean": nm(d["rho"]), "reliability_mean": nm(d["rel"]),
                "reliability_q025": rq[0], "reliability_q975": rq[1],
                "jaccard_mean": nm(d["jac"]), "jaccard_q025": jq[0], "jaccard_q975": jq[1],
                "percent_mean": nm(d["pct"])})
    return case


def main():
    CAT, DOM, inputs = load()
    out = {"cases": [run_case(CAT, DOM, inputs, *c) for c in CASES]}
    with open(os.path.join(HERE, "fixtures.json"), "w") as f:
        json.dump(enc(out), f, separators=(",", ":"))
        f.write("\n")
    for c in out["cases"]:
        print(c["name"], " ".join(f'{s["layer"]}/{s["metric"]}: rel {s["reliability_mean"]:.3f} J {s["jaccard_mean"]:.3f}'
                                  for s in c["summary"]))


if __name__ == "__main__":
    main()

"""Expected p-values of Spearman's rho for stages/report (findings F2).

scipy.stats.spearmanr on seeded random pairs; prints rho, n and p for the Go
test to compare spearmanP(rho, n) against. Run: /usr/bin/python3 spearman_p.py
"""
import numpy as np
from scipy import stats

rng = np.random.default_rng(11)
for n, mix in [(16, 0.3), (512, 0.3), (40, 0.0), (5, 0.9), (1000, 0.8)]:
    x = rng.normal(size=n)
    y = mix * x + rng.normal(size=n)
    r = stats.spearmanr(x, y)
    print(f"{{{r.correlation!r}, {n}, {r.pvalue!r}}},")

"""The "no strong match" line: the cosine below which a hit is not presented as an answer.

A fixed cosine line cannot serve every corpus: an unrelated question finds *something* loosely
related in two centuries of addresses (best cosine about 0.35) but nothing in one statement (about
0.1). So each index carries its own measurement: at build time the off-topic probe questions of
index/probes.py are searched against it and their best cosines stored in the manifest. The line is
the `weak_quantile` quantile of those (the share of unrelated questions it should catch), never
below the fixed floor `weak_below`. Measured in docs/quality.md.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def weak_line(probes: Sequence[float], floor: float, quantile: float) -> float:
    """max(floor, the quantile of the index's probe cosines (Manifest.probes)); the floor alone without probes."""
    top1 = list(probes)
    if quantile <= 0 or not top1:
        return float(floor)
    return max(float(floor), float(np.quantile(np.asarray(top1, dtype=np.float64), min(quantile, 1.0))))

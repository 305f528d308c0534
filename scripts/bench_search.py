#!/usr/bin/env python3
"""numpy side of benches/search.rs: brute-force 1:N search, `scores = G @ q`
then `argpartition` for the top K, on random unit float32 templates.

Usage: bench_search.py ITERS K N [N ...]   -> {"N": median_ms, ...}
Threads: set OPENBLAS_NUM_THREADS / OMP_NUM_THREADS before starting.
"""
import json
import statistics
import sys
import time

import numpy as np


def main():
    iters, k, sizes = int(sys.argv[1]), int(sys.argv[2]), [int(n) for n in sys.argv[3:]]
    rng = np.random.default_rng(7)
    out = {}
    for n in sizes:
        g = rng.standard_normal((n, 128), dtype=np.float32)
        g /= np.linalg.norm(g, axis=1, keepdims=True)
        q = g[n // 2] + 0.1 * rng.standard_normal(128, dtype=np.float32)
        q /= np.linalg.norm(q)
        times = []
        for i in range(iters + 3):
            t = time.perf_counter()
            scores = g @ q
            top = np.argpartition(-scores, k)[:k]
            top = top[np.argsort(-scores[top])]
            if i >= 3:
                times.append((time.perf_counter() - t) * 1e3)
        out[str(n)] = statistics.median(times)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

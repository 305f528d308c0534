#!/usr/bin/env python3
"""onnxruntime side of benches/vision.rs: times the original int8bq YuNet and SFace.

Reads the exact input tensors the Rust bench wrote (`<case>.f32` + `cases.json`
in WORKDIR), runs each case ITERS times after a warm-up with THREADS intra-op
threads, and prints {"case": median_ms, ...} as JSON.
"""
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from generate_reference import SFACE, YUNET, session  # noqa: E402


def main():
    workdir, threads, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    models = os.path.join(os.path.dirname(__file__), "..", "models", "onnx")
    cases = json.load(open(os.path.join(workdir, "cases.json")))
    sessions = {
        "yunet": session(os.path.join(models, YUNET), dynamic_hw=True, threads=threads),
        "sface": session(os.path.join(models, SFACE), threads=threads),
    }
    out = {}
    for case in cases:
        sess = sessions[case["model"]]
        x = np.fromfile(os.path.join(workdir, case["file"]), "<f4").reshape(case["shape"])
        feed = {sess.get_inputs()[0].name: x}
        for _ in range(3):
            sess.run(None, feed)
        times = []
        for _ in range(iters):
            t = time.perf_counter()
            sess.run(None, feed)
            times.append((time.perf_counter() - t) * 1e3)
        out[case["name"]] = statistics.median(times)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

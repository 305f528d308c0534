#!/usr/bin/env python3
"""onnxruntime side of benches/vision.rs: times YuNet and SFace as shipped
(int8bq: onnxruntime dequantizes the weights on every run) and folded to fp32
(the weights facegate runs).

Reads the exact input tensors the Rust bench wrote (`<case>.f32` + `cases.json`
in WORKDIR), runs each case ITERS times after a warm-up with THREADS intra-op
threads, and prints {"int8bq": {"case": median_ms, ...}, "fp32": {...}} as JSON.
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
    out = {}
    for variant, suffix in [("int8bq", "_int8bq.onnx"), ("fp32", "_fp32folded.onnx")]:
        def path(name):
            return os.path.join(models, name.replace("_int8bq.onnx", suffix))
        sessions = {
            "yunet": session(path(YUNET), dynamic_hw=True, threads=threads),
            "sface": session(path(SFACE), threads=threads),
        }
        out[variant] = {}
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
            out[variant][case["name"]] = statistics.median(times)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

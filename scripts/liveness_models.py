#!/usr/bin/env python3
"""Fetch and convert the passive-liveness models: MiniFASNetV2 and MiniFASNetV1SE.

No package registry ships them: they come from a local mirror folder
(`$FACEGATE_MODEL_MIRROR`, default `../shared/models` beside the project), which holds
minivision-ai/Silent-Face-Anti-Spoofing's `resources/anti_spoof_models/*.pth`
(Apache-2.0, commit b6d5f04) with a SOURCE.md. Each file is checked against its pinned
SHA-256, read by scripts/torch_pickle.py (no torch), and written unchanged in value to
`models/minifasnet_{v2,v1se}.safetensors` under the state_dict's own names, the
DataParallel prefix `module.` removed and the batch norms' integer step counters
(`num_batches_tracked`) dropped. `facegate models import` folds the batch norms and
checks every shape (src/vision/minifasnet/loader.rs).

    liveness_models.py [--mirror DIR] [--models DIR]
"""
import argparse
import hashlib
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fold_onnx  # noqa: E402
from torch_pickle import read_torch  # noqa: E402

ROOT = os.path.dirname(HERE)
UPSTREAM = ("https://github.com/minivision-ai/Silent-Face-Anti-Spoofing/tree/"
            "b6d5f04ad78778917853b25c778acef6d5626d15/resources/anti_spoof_models")
# (file in the mirror, sha256, output stem, crop scale)
MODELS = [
    ("2.7_80x80_MiniFASNetV2.pth",
     "a5eb02e1843f19b5386b953cc4c9f011c3f985d0ee2bb9819eea9a142099bec0",
     "minifasnet_v2", "2.7"),
    ("4_0_0_80x80_MiniFASNetV1SE.pth",
     "84ee1d37d96894d5e82de5a57df044ef80a58be2b218b5ed7cdfd875ec2f5990",
     "minifasnet_v1se", "4.0"),
]


def log(msg):
    print(f"liveness_models: {msg}", file=sys.stderr)


def convert(data, source):
    """The state_dict's float tensors under their names without `module.`."""
    sd = read_torch(data)
    out = {}
    for name, value in sd.items():
        name = name[len("module."):] if name.startswith("module.") else name
        if name.endswith(".num_batches_tracked"):
            if value.dtype != np.int64 or value.shape != ():
                sys.exit(f"liveness_models: {source}: {name} is not an integer counter")
            continue
        if value.dtype != np.float32:
            sys.exit(f"liveness_models: {source}: {name} is {value.dtype}, expected float32")
        out[name] = value
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mirror", default=os.environ.get(
        "FACEGATE_MODEL_MIRROR", os.path.join(os.path.dirname(ROOT), "shared", "models")))
    p.add_argument("--models", default=os.path.join(ROOT, "models"))
    a = p.parse_args()
    folder = os.path.join(a.mirror, "minifasnet")
    os.makedirs(a.models, exist_ok=True)
    for fname, digest, stem, scale in MODELS:
        path = os.path.join(folder, fname)
        if not os.path.exists(path):
            sys.exit(f"liveness_models: {path} not found: set FACEGATE_MODEL_MIRROR to the "
                     f"folder holding minifasnet/ (upstream: {UPSTREAM})")
        data = open(path, "rb").read()
        got = hashlib.sha256(data).hexdigest()
        if got != digest:
            sys.exit(f"liveness_models: {path} has SHA-256 {got}, expected {digest}")
        tensors = convert(data, path)
        meta = {
            "source": f"{UPSTREAM}/{fname} (Apache-2.0), sha256 {digest}",
            "crop_scale": scale,
            "bn_eps": "1e-05",
        }
        out = os.path.join(a.models, f"{stem}.safetensors")
        tmp = out + ".tmp"
        fold_onnx.write_safetensors(tmp, tensors, meta)
        os.replace(tmp, out)
        log(f"{fname}: sha256 ok, {len(tensors)} tensors -> {out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference outputs for facegate's MiniFASNet liveness, from upstream's own code.

Upstream (minivision-ai Silent-Face-Anti-Spoofing, the mirror's `minifasnet/upstream/`)
is imported from the mirror folder, never copied: its `CropImage` (OpenCV) makes the
crops and its `MiniFASNet.py` (PyTorch) computes the logits from the original `.pth`
files loaded by `torch.load`. The two need different venvs (OpenCV is in facegate's
tools venv, torch in venv-torch), so there are two steps:

    python  generate_reference_liveness.py crops  JOB.json OUT_DIR   # venv (cv2)
    python  generate_reference_liveness.py logits JOB.json OUT_DIR   # venv-torch
    python  generate_reference_liveness.py bench  JOB.json OUT_DIR ITERS THREADS  # venv-torch

JOB.json: {"images": [{"png": PATH, "bbox": [x, y, w, h]}, ...]} (the image as facegate
decoded it, and the face box facegate's detector found). `crops` writes
OUT_DIR/{i}_{v2,v1se}.png and OUT_DIR/crops.json (the crop boxes upstream chose);
`logits` reads those PNGs and writes OUT_DIR/logits.json: per image, per model, the
3 logits and the softmax, plus the summed prediction as upstream's test.py makes it.
`bench` (benches/liveness.rs) times both models on the first image's crops, ITERS
runs after a warm-up on THREADS threads, and prints {"ms_per_face": median}.
"""
import json
import os
import sys

MIRROR = os.environ.get("FACEGATE_MODEL_MIRROR", os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "shared", "models"))
UPSTREAM = os.path.join(MIRROR, "minifasnet", "upstream")
# (name, weights file, upstream constructor, crop scale)
MODELS = [("v2", "2.7_80x80_MiniFASNetV2.pth", "MiniFASNetV2", 2.7),
          ("v1se", "4_0_0_80x80_MiniFASNetV1SE.pth", "MiniFASNetV1SE", 4.0)]


def upstream(module):
    """Imports one of upstream's files from the mirror by path."""
    import importlib.util
    path = os.path.join(UPSTREAM, f"{module}.py")
    spec = importlib.util.spec_from_file_location(f"upstream_{module}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def crops(job, out):
    import cv2
    cropper = upstream("generate_patches").CropImage()
    boxes = []
    for i, item in enumerate(job["images"]):
        img = cv2.imread(item["png"], cv2.IMREAD_COLOR)  # BGR, as upstream reads
        if img is None:
            sys.exit(f"cannot read {item['png']}")
        h, w = img.shape[:2]
        row = {}
        for name, _, _, scale in MODELS:
            crop = cropper.crop(img, item["bbox"], scale, 80, 80, crop=True)
            cv2.imwrite(os.path.join(out, f"{i}_{name}.png"), crop)
            row[name] = list(cropper._get_new_box(w, h, item["bbox"], scale))
        boxes.append(row)
    with open(os.path.join(out, "crops.json"), "w") as f:
        json.dump(boxes, f)


def torch_models(threads=1):
    import torch
    torch.set_num_threads(threads)
    net = upstream("MiniFASNet")
    models = {}
    for name, fname, ctor, _ in MODELS:
        model = getattr(net, ctor)(conv6_kernel=(5, 5))  # upstream's get_kernel(80, 80)
        sd = torch.load(os.path.join(MIRROR, "minifasnet", fname), map_location="cpu",
                        weights_only=True)
        sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
        model.load_state_dict(sd)
        models[name] = model.eval()
    return models


def crop_tensor(out, i, name):
    """Crop `i` of model `name` as upstream's ToTensor gives it: BGR CHW floats 0-255."""
    import numpy as np
    import torch
    from PIL import Image
    rgb = np.asarray(Image.open(os.path.join(out, f"{i}_{name}.png")).convert("RGB"))
    bgr = rgb[:, :, ::-1].copy()
    return torch.from_numpy(bgr.transpose(2, 0, 1)).float().unsqueeze(0)


def bench(job, out, iters, threads):
    import statistics
    import time
    import torch
    models = torch_models(threads)
    xs = {name: crop_tensor(out, 0, name) for name, *_ in MODELS}
    times = []
    with torch.no_grad():
        for k in range(iters + 3):
            t = time.perf_counter()
            for name, *_ in MODELS:
                torch.softmax(models[name](xs[name]), dim=1)
            if k >= 3:
                times.append((time.perf_counter() - t) * 1e3)
    print(json.dumps({"ms_per_face": statistics.median(times)}))


def logits(job, out):
    import numpy as np
    import torch
    import torch.nn.functional as F
    models = torch_models()
    results = []
    for i in range(len(job["images"])):
        row, total = {}, np.zeros(3)
        for name, *_ in MODELS:
            x = crop_tensor(out, i, name)
            with torch.no_grad():
                y = models[name](x)
            p = F.softmax(y, dim=1)[0].numpy()
            total += p
            row[name] = {"logits": y[0].tolist(), "softmax": p.tolist()}
        label = int(np.argmax(total))
        row["label"], row["value"] = label, float(total[label] / 2)
        results.append(row)
    with open(os.path.join(out, "logits.json"), "w") as f:
        json.dump(results, f)


def main():
    steps = {"crops": 4, "logits": 4, "bench": 6}
    if len(sys.argv) < 2 or steps.get(sys.argv[1]) != len(sys.argv):
        sys.exit(__doc__)
    step, job, out = sys.argv[1:4]
    with open(job) as f:
        job = json.load(f)
    os.makedirs(out, exist_ok=True)
    if step == "bench":
        bench(job, out, int(sys.argv[4]), int(sys.argv[5]))
    else:
        {"crops": crops, "logits": logits}[step](job, out)


if __name__ == "__main__":
    main()

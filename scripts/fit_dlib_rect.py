#!/usr/bin/env python3
"""Fits the box facegate hands dlib's 5-point shape predictor
(`vision::dlib::dlib_rect`) to the boxes of dlib's HOG detector, which the
predictor was trained on (issue #16).

    fit_dlib_rect.py BIN [LFW_DIR] [--photos N]

Per photo (the first photo of every N-th LFW person, central face): the
detector box of `BIN --json detect` (RetinaFace, the default) and dlib's HOG
box (face_recognition, one upsampling) of the same face. With s the mean of
the detector box's width and height and (cx, cy) its centre, dlib's square is
modelled as centre (cx + ax·s, cy + ay·s), side k·s; ax, ay, k are the medians
over the even photos. The odd photos are held out: the script prints, for the
plain square (ax = ay = 0, k = 1) and the fitted one, the IoU with dlib's box
and how far dlib's own shape predictor puts the 5 landmarks from where it
puts them on dlib's box (in eye distances), as JSON.
"""
import json
import os
import subprocess
import sys

import dlib
import face_recognition
import face_recognition_models
import numpy as np


def central(boxes, w, h, key):
    return min(boxes, key=lambda b: (key(b)[0] - w / 2) ** 2 + (key(b)[1] - h / 2) ** 2)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    every = int(sys.argv[sys.argv.index("--photos") + 1]) if "--photos" in sys.argv else 10
    args = [a for a in args if a != str(every)]
    bin_ = args[0]
    lfw = args[1] if len(args) > 1 else os.path.join(os.path.dirname(__file__), "../../shared/data/lfw-deepfunneled")
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    people = sorted(os.listdir(lfw))
    rows = []
    for person in people[::every]:
        folder = os.path.join(lfw, person)
        if not os.path.isdir(folder):
            continue
        photo = os.path.join(folder, sorted(os.listdir(folder))[0])
        image = face_recognition.load_image_file(photo)
        h, w = image.shape[:2]
        hog = face_recognition.face_locations(image)  # (top, right, bottom, left)
        out = subprocess.run([bin_, "--json", "detect", photo], capture_output=True, text=True)
        faces = json.loads(out.stdout)["faces"] if out.returncode == 0 else []
        if not hog or not faces:
            continue
        t, r, b, l = central(hog, w, h, lambda b: ((b[1] + b[3]) / 2, (b[0] + b[2]) / 2))
        x, y, bw, bh = central(faces, w, h, lambda f: (f["bbox"][0] + f["bbox"][2] / 2,
                                                      f["bbox"][1] + f["bbox"][3] / 2))["bbox"]
        s = (bw + bh) / 2
        rows.append(dict(image=image, hog=(l, t, r, b), cx=x + bw / 2, cy=y + bh / 2, s=s))
    if len(rows) < 20:
        raise SystemExit(f"only {len(rows)} photos with both boxes")
    fit, held = rows[0::2], rows[1::2]
    ax = float(np.median([((r["hog"][0] + r["hog"][2]) / 2 - r["cx"]) / r["s"] for r in fit]))
    ay = float(np.median([((r["hog"][1] + r["hog"][3]) / 2 - r["cy"]) / r["s"] for r in fit]))
    k = float(np.median([(r["hog"][2] - r["hog"][0]) / r["s"] for r in fit]))

    def square(r, ax, ay, k):
        cx, cy, half = r["cx"] + ax * r["s"], r["cy"] + ay * r["s"], k * r["s"] / 2
        return tuple(round(v) for v in (cx - half, cy - half, cx + half, cy + half))

    def iou(a, b):
        ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
        iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = ix * iy
        area = lambda q: (q[2] - q[0]) * (q[3] - q[1])
        return inter / (area(a) + area(b) - inter)

    def landmarks(image, box):
        shape = predictor(image, dlib.rectangle(*box))
        return np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], dtype=float)

    def score(ax, ay, k):
        ious, errs = [], []
        for r in held:
            box = square(r, ax, ay, k)
            ref = landmarks(r["image"], r["hog"])
            # 5-point model: 0,1 one eye's corners, 2,3 the other's, 4 the nose.
            eyes = np.linalg.norm(ref[0:2].mean(0) - ref[2:4].mean(0))
            errs.append(float(np.linalg.norm(landmarks(r["image"], box) - ref, axis=1).mean() / eyes))
            ious.append(iou(box, r["hog"]))
        return {"mean_iou": float(np.mean(ious)), "landmark_error_mean": float(np.mean(errs)),
                "landmark_error_p95": float(np.percentile(errs, 95))}

    print(json.dumps({
        "photos_fitted": len(fit), "photos_held_out": len(held),
        "fit": {"ax": round(ax, 4), "ay": round(ay, 4), "k": round(k, 4)},
        "plain_square": score(0.0, 0.0, 1.0),
        "fitted": score(ax, ay, k),
    }, indent=1))


if __name__ == "__main__":
    main()

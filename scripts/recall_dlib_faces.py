#!/usr/bin/env python3
"""Detector recall on dlib's hand-labelled scene photos (issue #15).

    recall_dlib_faces.py BIN [DETECTOR ...]   # default: yunet retinaface mtcnn

Every `<box>` of `dlib-faces/training.xml` and `testing.xml` (dlib imglab XML,
`ignore='1'` boxes skipped) counts as found when one of the detector's faces
overlaps it at IoU >= 0.5 (and, a looser column, >= 0.3: detectors draw their
boxes around different parts of the head). Detections matching no labelled box
are counted too (the photos have unlabelled faces, so they are not all false).
facegate runs as `BIN --json --detector D detect IMAGE`; dlib's own HOG detector
(`dlib.get_frontal_face_detector()`, one upsampling as face_recognition uses it)
runs beside when dlib is installed. Prints one markdown row per detector.
"""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("FACEGATE_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
FACES = os.path.join(DATA, "dlib-faces")


def labelled():
    """{file: [[x, y, w, h], ...]} over both sets."""
    out = {}
    for xml in ("training.xml", "testing.xml"):
        for image in ET.parse(os.path.join(FACES, xml)).getroot().iter("image"):
            boxes = [[float(b.get(k)) for k in ("left", "top", "width", "height")]
                     for b in image.iter("box") if b.get("ignore") != "1"]
            out.setdefault(image.get("file"), []).extend(boxes)
    return out


def iou(a, b):
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def facegate(bin_, detector):
    def detect(path):
        out = subprocess.run([bin_, "--json", "--detector", detector, "detect", path],
                             check=True, capture_output=True, text=True).stdout
        return [f["bbox"] for f in json.loads(out)["faces"]]
    return detect


def dlib_hog():
    try:
        import dlib
    except ImportError:
        return None
    hog = dlib.get_frontal_face_detector()

    def detect(path):
        img = dlib.load_rgb_image(path)
        return [[r.left(), r.top(), r.width(), r.height()] for r in hog(img, 1)]
    return detect


def row(label, detect, truth):
    found = {0.5: 0, 0.3: 0}
    total = unmatched = 0
    for file, boxes in sorted(truth.items()):
        dets = detect(os.path.join(FACES, file))
        total += len(boxes)
        for t in (0.5, 0.3):
            found[t] += sum(any(iou(d, b) >= t for d in dets) for b in boxes)
        unmatched += sum(not any(iou(d, b) >= 0.3 for b in boxes) for d in dets)
    print(f"| {label} | {found[0.5]} / {total} | {100 * found[0.5] / total:.1f} % | "
          f"{found[0.3]} / {total} | {unmatched} |")


def main():
    bin_, detectors = sys.argv[1], sys.argv[2:] or ["yunet", "retinaface", "mtcnn"]
    truth = labelled()
    print(f"{len(truth)} photos, {sum(map(len, truth.values()))} labelled faces")
    print()
    print("| detector | found (IoU >= 0.5) | recall | found (IoU >= 0.3) | detections matching no label |")
    print("|---|---:|---:|---:|---:|")
    for d in detectors:
        row(f"facegate {d}", facegate(bin_, d), truth)
    hog = dlib_hog()
    if hog:
        row("dlib HOG (face_recognition's default)", hog, truth)


if __name__ == "__main__":
    main()

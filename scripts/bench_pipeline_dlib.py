#!/usr/bin/env python3
"""dlib reference for benches/terminal.rs: the same per-frame job with
`face_recognition` (dlib's HOG detector at its default one upsampling,
5-point landmarks, the ResNet 128-D encoder, then a numpy 1:N search over a
gallery of the same size), on the same 640x480 frames.

usage: bench_pipeline_dlib.py WORKDIR ROUNDS
WORKDIR holds frames/*.png and gallery.json {"rows", "dim"}.
Prints {"ms_per_frame": best round mean, "faces": n, "frames": n} as JSON.
"""
import glob
import json
import os
import sys

import face_recognition
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from pipeline_rounds import report_best_round  # noqa: E402


def main():
    workdir, rounds = sys.argv[1], int(sys.argv[2])
    meta = json.load(open(os.path.join(workdir, "gallery.json")))
    rng = np.random.default_rng(1)
    gallery = rng.standard_normal((meta["rows"], 128)).astype(np.float64)
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    # Frames arrive decoded from the camera: decode them before timing.
    frames = [face_recognition.load_image_file(p)
              for p in sorted(glob.glob(os.path.join(workdir, "frames", "*.png")))]

    def per_frame(frame):
        boxes = face_recognition.face_locations(frame)  # HOG, upsample 1
        if not boxes:
            return False
        box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
        encoding = face_recognition.face_encodings(frame, [box])[0]
        distances = np.linalg.norm(gallery - encoding, axis=1)
        int(np.argmin(distances))
        return True

    report_best_round(frames, rounds, per_frame)


if __name__ == "__main__":
    main()

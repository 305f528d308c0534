#!/usr/bin/env python3
"""Reference for benches/terminal.rs: the same per-frame pipeline in OpenCV
(OpenCV Zoo's way: FaceDetectorYN on a 320x240 copy, largest face,
FaceRecognizerSF.alignCrop + feature, then a numpy 1:N search over the same
gallery matrix), on the same 640x480 frames and the same (fp32-folded) weights.

usage: bench_pipeline_opencv.py WORKDIR THREADS ROUNDS
WORKDIR holds frames/*.png and gallery.f32 (+ gallery.json {"rows", "dim"}).
Prints {"ms_per_frame": best round mean, "faces": n, "frames": n} as JSON.
"""
import glob
import json
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from pipeline_rounds import report_best_round  # noqa: E402


def main():
    workdir, threads, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    cv2.setNumThreads(threads)
    models = os.path.join(os.path.dirname(__file__), "..", "models", "onnx")
    detector = cv2.FaceDetectorYN.create(
        os.path.join(models, "face_detection_yunet_2023mar_fp32folded.onnx"),
        "", (320, 240), 0.9, 0.3, 5000)
    recognizer = cv2.FaceRecognizerSF.create(
        os.path.join(models, "face_recognition_sface_2021dec_fp32folded.onnx"), "")
    meta = json.load(open(os.path.join(workdir, "gallery.json")))
    gallery = np.fromfile(os.path.join(workdir, "gallery.f32"), dtype="<f4")
    gallery = gallery.reshape(meta["rows"], meta["dim"])
    # Frames arrive decoded from the camera: decode them before timing.
    frames = [cv2.imread(p) for p in sorted(glob.glob(os.path.join(workdir, "frames", "*.png")))]

    def per_frame(frame):
        small = cv2.resize(frame, (320, 240), interpolation=cv2.INTER_LINEAR)
        _, found = detector.detect(small)
        if found is None or len(found) == 0:
            return False
        face = max(found, key=lambda f: f[2] * f[3]).copy()
        face[:14] *= frame.shape[1] / 320.0
        if face[2] < 60:
            return False
        crop = recognizer.alignCrop(frame, face)
        feature = recognizer.feature(crop).reshape(-1)
        feature /= np.linalg.norm(feature)
        scores = gallery @ feature
        int(np.argmax(scores))
        return True

    report_best_round(frames, rounds, per_frame)


if __name__ == "__main__":
    main()

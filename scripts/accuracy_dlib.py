#!/usr/bin/env python3
"""dlib reference for the accuracy report: scores the very pairs that
`facegate calibrate --scores-out` wrote, with `face_recognition` (dlib's HOG
detector at one upsampling, 5-point landmarks, the ResNet 128-D encoder; the
largest face of each photo), and writes them in the same format for
`facegate calibrate --scores`.

usage: accuracy_dlib.py DIR PAIRS.tsv OUT.tsv
The score is 1 - Euclidean distance (face_recognition's default tolerance 0.6
is a score of 0.4); NaN when dlib finds no face in either photo.
"""
import math
import os
import sys

import face_recognition
import numpy as np


def main():
    root, pairs_path, out_path = sys.argv[1:4]
    pairs = [line.rstrip("\n").split("\t") for line in open(pairs_path)][1:]
    photos = sorted({p for a, b, _, _ in pairs for p in (a, b)})
    encodings, missing = {}, 0
    for i, rel in enumerate(photos):
        image = face_recognition.load_image_file(f"{root}/{rel}")
        boxes = face_recognition.face_locations(image)  # HOG, upsample 1
        if boxes:
            box = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
            encodings[rel] = face_recognition.face_encodings(image, [box])[0]
        else:
            missing += 1
        if (i + 1) % 500 == 0:
            print(f"{i + 1}/{len(photos)} photos", file=sys.stderr)
    with open(out_path + ".tmp", "w") as out:
        out.write("a\tb\tsame\tscore\n")
        for a, b, same, _ in pairs:
            if a in encodings and b in encodings:
                score = 1.0 - float(np.linalg.norm(encodings[a] - encodings[b]))
            else:
                score = math.nan
            out.write(f"{a}\t{b}\t{same}\t{score}\n")
    os.replace(out_path + ".tmp", out_path)
    print(f"dlib: {len(photos)} photos, {missing} without a face", file=sys.stderr)


if __name__ == "__main__":
    main()

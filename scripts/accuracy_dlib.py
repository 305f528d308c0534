#!/usr/bin/env python3
"""dlib reference for the accuracy report: dlib's `face_recognition` (HOG
detector at one upsampling, 5-point landmarks, the ResNet 128-D encoder) on
each photo's subject face (the largest, or with `central` the one nearest the
photo's centre, LFW's convention).

usage: accuracy_dlib.py DIR SUBJECT EMBEDDINGS [PAIRS.tsv OUT.tsv]

EMBEDDINGS is a `facegate calibrate --embeddings` file (src/calibrate/
embeddings.rs) of dlib's raw descriptors: the photos it already holds are
not run again, the others are added, so that `facegate calibrate
--embeddings EMBEDDINGS` scores dlib on the very galleries it draws for
facegate (1:N). The photos: those of PAIRS.tsv (`facegate calibrate
--scores-out`), else every photo in DIR's sub-folders. With PAIRS.tsv, OUT.tsv
gets the same pairs scored by dlib's own rule, 1 - Euclidean distance
(face_recognition's default tolerance 0.6 is a score of 0.4), NaN when dlib
finds no face in either photo; `facegate calibrate --scores OUT.tsv` reads it.
"""
import math
import os
import sys

import embeddings_file
import face_recognition
import numpy as np


def read_embeddings(path, source):
    """The photos already in `path` (a file of `source`), as arrays."""
    if not os.path.exists(path):
        return {}
    found, rows = embeddings_file.read(path)
    if found != source:
        raise SystemExit(f"{path}: embeddings of {found!r}, not {source!r}")
    return {p: None if v is None else np.array(v) for p, v in rows.items()}


def subject_box(boxes, shape, subject):
    if subject == "central":
        h, w = shape[:2]
        # (top, right, bottom, left): the box centre nearest the photo's
        return min(boxes, key=lambda b: ((b[1] + b[3]) / 2 - w / 2) ** 2
                   + ((b[0] + b[2]) / 2 - h / 2) ** 2)
    return max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))


def main():
    if len(sys.argv) not in (4, 6):
        raise SystemExit(__doc__)
    root, subject, emb_path = sys.argv[1:4]
    if subject not in ("largest", "central"):
        raise SystemExit(f"subject {subject!r}: largest or central")
    source = f"dlib face_recognition, HOG upsample 1, {subject}"
    pairs = None
    if len(sys.argv) == 6:
        pairs = [line.rstrip("\n").split("\t") for line in open(sys.argv[4])][1:]
        photos = sorted({p for a, b, _, _ in pairs for p in (a, b)})
    else:
        photos = sorted(f"{d}/{f}" for d in os.listdir(root) if os.path.isdir(f"{root}/{d}")
                        for f in os.listdir(f"{root}/{d}") if f.lower().endswith((".jpg", ".png")))
    rows = read_embeddings(emb_path, source)
    todo = [p for p in photos if p not in rows]
    for i, rel in enumerate(todo):
        image = face_recognition.load_image_file(f"{root}/{rel}")
        boxes = face_recognition.face_locations(image)  # HOG, upsample 1
        rows[rel] = (face_recognition.face_encodings(image, [subject_box(boxes, image.shape, subject)])[0]
                     if boxes else None)
        if (i + 1) % 500 == 0:
            print(f"{i + 1}/{len(todo)} photos", file=sys.stderr)
    if todo:
        embeddings_file.write(emb_path, source, rows)
    missing = sum(1 for p in photos if rows[p] is None)
    print(f"dlib: {len(photos)} photos, {missing} without a face", file=sys.stderr)
    if pairs is None:
        return
    out_path = sys.argv[5]
    with open(out_path + ".tmp", "w") as out:
        out.write("a\tb\tsame\tscore\n")
        for a, b, same, _ in pairs:
            ea, eb = rows[a], rows[b]
            score = math.nan if ea is None or eb is None else 1.0 - float(np.linalg.norm(ea - eb))
            out.write(f"{a}\t{b}\t{same}\t{score}\n")
    os.replace(out_path + ".tmp", out_path)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Fits score-level fusion weights on LFW View 2 folds and checks them by
leave-one-fold-out cross-validation (issue #16).

    fusion_cv.py [--fold-size 600] [--out-dir DIR] NAME=SCORES.tsv ...
    fusion_cv.py --weights W1,W2,... --out FUSED.tsv NAME=SCORES.tsv ...
    fusion_cv.py --weights W1,W2,... --fuse-embeddings --out FUSED NAME=EMBEDDINGS ...

Each SCORES.tsv is `facegate calibrate --pairs pairs.txt --scores-out` of one
embedder on the same pairs file (same pairs, same order; the shared pairs.txt
holds folds 4-10, 600 pairs each). For every combination of two or more of
the given embedders, and every held-out fold, the weights are fitted on the
other folds by Fisher's linear discriminant of the members' scores (w ∝
(Σ_genuine + Σ_impostor)⁻¹ (μ_genuine − μ_impostor), negative weights set to
0, summing to 1), and the held-out fold is scored with them: the pooled
held-out scores are never scored by weights fitted on their own fold.
(A search for the weights that maximise TAR at FAR 1e-3 on the training
folds was tried first: with 1800 impostor pairs that point rests on one or
two pairs, the weights it found jumped from fold to fold, and held out it
did worse than SFace alone.)
Writes, per combination, DIR/cv-<names>.tsv (held-out fused scores) and
DIR/all-<names>.tsv (fused with the weights fitted on all folds), and prints
one JSON line per combination: the weights per fold and on all folds.
A pair whose photo has no face for any member (score NaN) stays NaN.
With --weights, no fitting: the members fused with the given weights (the
shipped rule, `src/vision/fusion.rs`) are written to --out. With
--fuse-embeddings the inputs are `facegate calibrate --embeddings` files of
the members on one photo set, and --out gets the fused embedding of each
photo as `--embedder sface+dlib` computes it: the members' unit embeddings
side by side, each scaled by the square root of its weight (none where a
member found no face); the cosine of two is the weighted mean of the
members' cosines.
"""
import argparse
import itertools
import json
import math
import os

import embeddings_file
import numpy as np


def read(path):
    rows = []
    with open(path) as f:
        next(f)
        for line in f:
            a, b, same, score = line.rstrip("\n").split("\t")
            rows.append((a, b, same == "1", float(score)))
    return rows


def write(path, pairs, scores):
    with open(path, "w") as f:
        f.write("a\tb\tsame\tscore\n")
        for (a, b, same, _), s in zip(pairs, scores):
            f.write(f"{a}\t{b}\t{int(same)}\t{s}\n")


def fused_row(members, photo):
    """The members' unit embeddings of `photo`, each times sqrt(weight),
    side by side; None where one found no face."""
    parts = []
    for _, w, _, rows in members:
        v = rows[photo]
        if v is None:
            return None
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        parts += [x / norm * math.sqrt(w) for x in v]
    return parts


def fuse_embeddings(runs, weights, out):
    members = [(name, w) + embeddings_file.read(path)
               for (name, path), w in zip(runs.items(), weights)]
    photos = set.intersection(*(set(rows) for _, _, _, rows in members))
    source = "fused " + " ".join(f"{name}:{w}" for name, w, _, _ in members) + " of " + \
        "; ".join(src for _, _, src, _ in members)
    embeddings_file.write(out, source, {p: fused_row(members, p) for p in photos})


def fuse(members, weights, idx):
    return [sum(w * m[i] for w, m in zip(weights, members)) for i in idx]


def fit(members, same, idx):
    """Fisher's discriminant on the pairs `idx` where every member scored."""
    rows = [i for i in idx if not any(math.isnan(m[i]) for m in members)]
    x = np.array([[m[i] for m in members] for i in rows])
    y = np.array([same[i] for i in rows])
    g, imp = x[y], x[~y]
    w = np.linalg.solve(np.cov(g.T) + np.cov(imp.T), g.mean(0) - imp.mean(0))
    w = np.clip(w, 0, None)
    w = [round(float(v), 4) for v in w / w.sum()]
    w[-1] = round(1 - sum(w[:-1]), 4)  # rounded, still summing to 1
    return w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fold-size", type=int, default=600)
    ap.add_argument("--out-dir", default=".")
    ap.add_argument("--weights", help="fuse with these weights, no fitting")
    ap.add_argument("--out", help="with --weights: the fused scores file")
    ap.add_argument("--fuse-embeddings", action="store_true",
                    help="with --weights: the inputs are embeddings files")
    ap.add_argument("runs", nargs="+", help="NAME=SCORES.tsv")
    args = ap.parse_args()
    runs = dict(r.split("=", 1) for r in args.runs)
    if args.fuse_embeddings:
        w = [float(x) for x in (args.weights or "").split(",") if x]
        if len(w) != len(runs) or abs(sum(w) - 1) > 1e-6 or not args.out:
            raise SystemExit("--fuse-embeddings: --weights (one per member, summing to 1) and --out")
        fuse_embeddings(runs, w, args.out)
        return
    data = {name: read(path) for name, path in runs.items()}
    first = next(iter(data.values()))
    for name, rows in data.items():
        if [(a, b, s) for a, b, s, _ in rows] != [(a, b, s) for a, b, s, _ in first]:
            raise SystemExit(f"{name}: not the same pairs as the others")
    same = [s for _, _, s, _ in first]
    n = len(first)
    folds = [list(range(i, min(i + args.fold_size, n))) for i in range(0, n, args.fold_size)]
    names = list(data)
    if args.weights:
        w = [float(x) for x in args.weights.split(",")]
        if len(w) != len(names) or abs(sum(w) - 1) > 1e-6 or not args.out:
            raise SystemExit("--weights: one per member, summing to 1, and --out")
        write(args.out, first, fuse([[r[3] for r in data[c]] for c in names], w, range(n)))
        return
    os.makedirs(args.out_dir, exist_ok=True)
    for k in range(2, len(names) + 1):
        for combo in itertools.combinations(names, k):
            members = [[r[3] for r in data[c]] for c in combo]
            held = [math.nan] * n
            per_fold = []
            for f, test in enumerate(folds):
                train = [i for g, fold in enumerate(folds) if g != f for i in fold]
                w = fit(members, same, train)
                per_fold.append(w)
                for i, s in zip(test, fuse(members, w, test)):
                    held[i] = s
            w_all = fit(members, same, list(range(n)))
            tag = "+".join(combo)
            write(os.path.join(args.out_dir, f"cv-{tag}.tsv"), first, held)
            write(os.path.join(args.out_dir, f"all-{tag}.tsv"), first, fuse(members, w_all, range(n)))
            print(json.dumps({"members": combo, "weights_per_fold": per_fold, "weights_all_folds": w_all}))


if __name__ == "__main__":
    main()

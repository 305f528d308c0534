#!/usr/bin/env python3
"""Genuine-pair TAR with liveness off and on, from two score files facegate wrote:

    liveness_lfw.py PAIRS.tsv LIVENESS.tsv FACE_THRESHOLD[,T2...] LIVE_THRESHOLD

PAIRS.tsv: `facegate calibrate DIR --pairs pairs.txt --scores-out PAIRS.tsv` (a, b, same,
score). LIVENESS.tsv: `facegate calibrate-liveness --bona-fide DIR --scores-out
LIVENESS.tsv` (file, live, attack, source, score), paths relative to the same DIR. A
genuine pair is accepted with liveness off when its score reaches the face threshold;
with liveness on also when the probe (the pair's second photo, as at a door) is live,
and, stricter, when both photos are. Prints one Markdown row per face threshold.
"""
import csv
import math
import sys


def main():
    pairs_path, live_path, face_ts, live_t = sys.argv[1:5]
    live_t = float(live_t)
    live = {}
    with open(live_path) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            s = float(row["score"])
            live[row["file"]] = (not math.isnan(s)) and s >= live_t
    genuine = []
    with open(pairs_path) as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 4 or cols[2] not in ("1", "true", "0", "false"):
                continue
            a, b, same, score = cols
            if same in ("1", "true"):
                genuine.append((a, b, float(score)))
    photos = {p for a, b, _ in genuine for p in (a, b)}
    missing = [p for p in photos if p not in live]
    if missing:
        sys.exit(f"{len(missing)} photos have no liveness score, e.g. {missing[0]}")
    n = len(genuine)
    print(f"| face threshold | genuine pairs | TAR, liveness off | TAR, probe live "
          f"(liveness {live_t}) | TAR, both photos live |")
    print("|---|---:|---:|---:|---:|")
    for t in face_ts.split(","):
        t = float(t)
        off = sum(1 for _, _, s in genuine if s >= t)
        probe = sum(1 for _, b, s in genuine if s >= t and live[b])
        both = sum(1 for a, b, s in genuine if s >= t and live[a] and live[b])
        pct = lambda k: f"{100 * k / n:.2f} %"  # noqa: E731
        print(f"| {t:.3f} | {n} | {pct(off)} | {pct(probe)} | {pct(both)} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""One markdown row from `facegate --json calibrate` output (scripts/accuracy*.sh).

    calibration_row.py LABEL JSON FARS [EXTRA]

Cells: genuine / impostor pairs, pairs without a face, TAR at each of FARS
(comma-separated; "(extrap.)" when there are fewer impostor pairs than 1/FAR),
EER and its threshold, then EXTRA (a cell of the caller's) if given.
"""
import json
import sys


def main():
    label, j, fars = sys.argv[1], json.loads(sys.argv[2]), [float(f) for f in sys.argv[3].split(",")]
    c = j["calibration"]
    tar = {p["far"]: p for p in c["points"]}

    def cell(far):
        p = tar[far]
        return f"{100 * p['tar']:.2f} %" + (" (extrap.)" if p["extrapolated"] else "")
    cells = [f"{c['genuine']} / {c['impostor']}", str(j["pairs_without_face"])]
    cells += [cell(f) for f in fars]
    cells += [f"{100 * c['eer']:.2f} %", f"{c['eer_threshold']:.3f}"] + sys.argv[4:5]
    print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Markdown rows (one per gallery size) from `facegate --json calibrate
--identification` output (scripts/identification.sh).

    identification_row.py LABEL JSON
"""
import json
import sys


def main():
    label, j = sys.argv[1], json.loads(sys.argv[2])
    for r in j["identification"]:
        at = {p["fpir"]: p for p in r["points"]}

        def cell(fpir):
            p = at[fpir]
            extrap = " (extrap.)" if p["extrapolated"] else ""
            return f"{100 * p['fnir']:.2f} % ({p['threshold']:.3f}){extrap}"
        cells = [str(r["gallery_size"]), f"{r['mated']} / {r['non_mated']}",
                 f"{100 * r['rank1_miss']:.2f} %", cell(0.01), cell(0.001)]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

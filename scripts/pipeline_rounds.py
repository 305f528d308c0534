"""Timing shared by the whole-pipeline references (bench_pipeline_*.py)."""
import json
import time


def report_best_round(frames, rounds, per_frame):
    """Runs `per_frame(frame)` (True when it handled a face) over all frames,
    `rounds` times; prints the best round's mean ms per frame as JSON:
    {"ms_per_frame", "faces", "frames"}."""
    best, faces = None, 0
    for _ in range(rounds):
        start = time.perf_counter()
        faces = sum(1 for frame in frames if per_frame(frame))
        ms = (time.perf_counter() - start) * 1e3 / len(frames)
        best = ms if best is None else min(best, ms)
    print(json.dumps({"ms_per_frame": best, "faces": faces, "frames": len(frames)}))

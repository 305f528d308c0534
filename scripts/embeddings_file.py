"""Reads and writes `facegate calibrate --embeddings` files
(src/calibrate/embeddings.rs): a magic line, `# source: …`, then one photo a
line, its path and its values separated by a tab and spaces (none: no face).
Shared by scripts/accuracy_dlib.py and scripts/fusion_cv.py."""
import os

MAGIC = "# facegate embeddings 1"
SOURCE = "# source: "


def read(path):
    """(source, {photo: [values] or None}); SystemExit if not such a file."""
    with open(path) as f:
        lines = f.read().splitlines()
    if len(lines) < 2 or lines[0] != MAGIC or not lines[1].startswith(SOURCE):
        raise SystemExit(f"{path}: not an embeddings file")
    rows = {}
    for line in lines[2:]:
        photo, values = line.split("\t")
        rows[photo] = [float(v) for v in values.split()] if values else None
    return lines[1][len(SOURCE):], rows


def write(path, source, rows):
    """Writes `rows` (values: any float sequence, or None) atomically."""
    with open(path + ".tmp", "w") as f:
        f.write(f"{MAGIC}\n{SOURCE}{source}\n")
        for photo in sorted(rows):
            v = rows[photo]
            f.write(photo + "\t" + ("" if v is None else " ".join(repr(float(x)) for x in v)) + "\n")
    os.replace(path + ".tmp", path)

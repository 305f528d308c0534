#!/usr/bin/env python3
"""dlib reference for the Rust shape predictor and face chip (tests/dlib.rs).

Run with the dlib venv's interpreter (`source scripts/setup.sh && ensure_dlib_python`,
then `$FACEGATE_DLIB_PYTHON scripts/dlib_reference.py ...`):

    dlib_reference.py --out DIR [--models DIR] [--rect L,T,R,B ...] [--list FILE] IMAGE...

Each image is loaded as `face_recognition.load_image_file` does (PIL, converted to
RGB, as a uint8 numpy array) and written to DIR as a lossless PNG, so the Rust side
sees exactly the pixels dlib saw. The faces are the rectangles given (`--rect`
for every image on the command line, or per line of `--list FILE`:
`PATH [L,T,R,B ...]`), else those of `dlib.get_frontal_face_detector()` with one
upsampling, as `face_recognition.face_locations(img)` finds them. For each face
the JSON on stdout gives:

* `rect`: (left, top, right, bottom), dlib's inclusive pixel coordinates;
* `landmarks`: the 5 parts of `dlib.shape_predictor(shape_predictor_5_face_landmarks.dat)`
  on that rectangle (dlib rounds them to whole pixels);
* `chip_details`: `dlib.get_face_chip_details(shape, 150, 0.25)` (rect as
  left, top, right, bottom doubles, angle, rows, cols);
* `chip`: the PNG in DIR of `dlib.get_face_chip(img, shape, size=150, padding=0.25)`;
* `descriptor`: `dlib.face_recognition_model_v1(dlib_face_recognition_resnet_model_v1.dat)
  .compute_face_descriptor(img, shape)`, 128 doubles.

The descriptor's chip, per tools/python/src/face_recognition.cpp (dlib 20.0.1):
`compute_face_descriptor(img, face, num_jitters=0, padding=0.25)` wraps the face
in a batch, takes `get_face_chip_details(face, 150, padding)` and calls
`extract_image_chips` (bilinear, with the pyramid_down<2> image pyramid) for the
faces of that one call, then runs the network on the 150x150 chips; with
`num_jitters <= 1` (face_recognition passes 1) there is no jittering. So it is the
chip of `get_face_chip(img, shape, 150, 0.25)` (`extract_image_chip`, which only
differs for an unrotated, unscaled chip: a plain copy). With several faces in one
`compute_face_descriptor(img, faces)` call the pyramid is built once over the
bounding box of all the chips, which can change the pixels slightly; this script
calls it one face at a time, as face_recognition does.
"""
import argparse
import json
import os
import sys

import dlib
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
CHIP_SIZE = 150
CHIP_PADDING = 0.25


def parse_rect(text):
    left, top, right, bottom = (int(v) for v in text.split(","))
    return dlib.rectangle(left, top, right, bottom)


def jobs(args):
    """(path, [rectangle] or None) for each image asked for."""
    given = [parse_rect(r) for r in args.rect] or None
    out = [(path, given) for path in args.images]
    if args.list:
        with open(args.list) as f:
            for line in f:
                fields = line.split()
                if not fields or fields[0].startswith("#"):
                    continue
                rects = [parse_rect(r) for r in fields[1:]] or None
                out.append((fields[0], rects))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("images", nargs="*")
    ap.add_argument("--out", required=True, help="directory for the PNGs")
    ap.add_argument("--models", default=os.path.join(HERE, "..", "models"))
    ap.add_argument("--rect", action="append", default=[], metavar="L,T,R,B")
    ap.add_argument("--list", metavar="FILE")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(os.path.join(args.models, "shape_predictor_5_face_landmarks.dat"))
    encoder = dlib.face_recognition_model_v1(
        os.path.join(args.models, "dlib_face_recognition_resnet_model_v1.dat")
    )

    images = []
    for i, (path, rects) in enumerate(jobs(args)):
        # face_recognition.load_image_file: PIL, convert("RGB"), numpy uint8.
        img = np.array(Image.open(path).convert("RGB"))
        rgb = os.path.join(args.out, f"img{i}.png")
        Image.fromarray(img).save(rgb)
        source = "given" if rects is not None else "detector"
        if rects is None:
            rects = list(detector(img, 1))
        faces = []
        for j, rect in enumerate(rects):
            shape = predictor(img, rect)
            details = dlib.get_face_chip_details(shape, CHIP_SIZE, CHIP_PADDING)
            chip = dlib.get_face_chip(img, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
            chip_path = os.path.join(args.out, f"img{i}_face{j}.png")
            Image.fromarray(chip).save(chip_path)
            descriptor = encoder.compute_face_descriptor(img, shape)
            r = details.rect
            faces.append(
                {
                    "source": source,
                    "rect": [rect.left(), rect.top(), rect.right(), rect.bottom()],
                    "landmarks": [[p.x, p.y] for p in shape.parts()],
                    "chip_details": {
                        "rect": [r.left(), r.top(), r.right(), r.bottom()],
                        "angle": details.angle,
                        "rows": details.rows,
                        "cols": details.cols,
                    },
                    "chip": chip_path,
                    "descriptor": list(descriptor),
                }
            )
        images.append(
            {"path": path, "rgb": rgb, "width": img.shape[1], "height": img.shape[0], "faces": faces}
        )
        print(f"{path}: {len(faces)} faces", file=sys.stderr)
    json.dump({"dlib": dlib.__version__, "images": images}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

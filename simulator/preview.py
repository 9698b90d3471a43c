"""A contact sheet of every transform on one or more frames, for eyeballing what they do.

    python -m simulator.preview out.png path/to/face.jpg [more.jpg ...] [--detect]

``--detect`` places the occlusions from YuNet's landmarks (``examgate.vision``);
without it they go where a centred LFW face has its features.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import cv2
import numpy as np

from examgate.augment import Step, apply_chain_moved, transform_names

_GEOMETRIC = {"rotate", "off_center", "printed_photo"}


def transform_grid(image: np.ndarray, landmarks: np.ndarray | None = None, seed: int = 0,
                   columns: int = 6) -> np.ndarray:
    """The original and every registered transform (default parameters) as one BGR image."""
    tiles = []
    for name in ["original", *transform_names()]:
        if name == "original":
            out, pts = image.copy(), landmarks
        else:
            out, pts = apply_chain_moved(image, [Step(name, {}, seed)], landmarks)
            out = out.copy()
        if pts is not None and (name == "original" or name in _GEOMETRIC):
            for x, y in pts:  # show where the landmarks went
                cv2.circle(out, (round(float(x)), round(float(y))), 2, (0, 255, 0), -1)
        cv2.putText(out, name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1,
                    cv2.LINE_AA)
        tiles.append(out)
    tiles += [np.zeros_like(image)] * (-len(tiles) % columns)
    return np.vstack([np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)])


def _detect(image: np.ndarray) -> np.ndarray | None:
    from examgate.vision import create_detector

    found = create_detector("yunet").detect(image)
    return max(found, key=lambda d: d.area).landmarks_array() if found else None


def main(argv: Sequence[str] | None = None) -> None:
    """Write a contact sheet of all transforms for the given images."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--detect", action="store_true", help="landmarks from YuNet")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sheets = []
    for path in args.images:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"cannot read {path}")
        sheets.append(transform_grid(image, _detect(image) if args.detect else None, args.seed))
    width = max(s.shape[1] for s in sheets)
    sheets = [cv2.copyMakeBorder(s, 0, 0, 0, width - s.shape[1], cv2.BORDER_CONSTANT)
              for s in sheets]
    if not cv2.imwrite(args.out, np.vstack(sheets)):
        raise SystemExit(f"cannot write {args.out}")


if __name__ == "__main__":
    main()

"""The still gate scene, the sensor that records each frame, and helpers the instruments share.

Everything here works on whole uint8 frames with OpenCV, so that a five-frame burst
costs a few milliseconds per frame; nothing here knows about instruments.
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import NormalDist

import cv2
import numpy as np

# Painted walls and doors of corridors and exam halls, BGR 0..1.
_WALLS = np.array([[0.84, 0.87, 0.89], [0.66, 0.78, 0.85], [0.76, 0.77, 0.78],
                   [0.70, 0.82, 0.76], [0.84, 0.78, 0.70], [0.60, 0.66, 0.70]], np.float32)
_DOORS = np.array([[0.22, 0.36, 0.52], [0.50, 0.52, 0.54], [0.80, 0.81, 0.82],
                   [0.42, 0.34, 0.28], [0.30, 0.42, 0.30]], np.float32)
# Skin tones from light to dark (BGR 0..255), for hands and attackers' silhouettes.
SKIN = np.array([[158, 180, 228], [128, 158, 210], [100, 130, 185], [70, 96, 150],
                 [48, 66, 108]], np.float32)
# A normal distribution's 256 quantiles: random bytes through this table are Gaussian
# samples an order of magnitude faster than ``Generator.normal`` on a full frame.
_QUANTILES = np.array([NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)], np.float32)

Drawing = Callable[[np.ndarray], object]


def flat(shape: tuple[int, int], colour: object, dtype: type = np.uint8) -> np.ndarray:
    """An (h, w, 3) image of one ``colour`` (OpenCV fills it far faster than numpy broadcasts)."""
    canvas: np.ndarray = np.empty((*shape, 3), dtype)
    cv2.rectangle(canvas, (0, 0), (shape[1], shape[0]), np.asarray(colour, float).tolist(), -1)
    return canvas


def random_bytes(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform random uint8 of ``shape`` (drawn 64 bits at a time: 4x ``Generator.bytes``)."""
    n = int(np.prod(shape))
    words = rng.integers(0, np.iinfo(np.uint64).max, size=(n + 7) // 8, dtype=np.uint64,
                         endpoint=True)
    return words.view(np.uint8)[:n].reshape(shape)


def smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of ``sigma`` px; wide ones run on a shrunken copy (they keep no detail)."""
    if sigma <= 0:
        return image
    step = int(sigma // 2.5)
    h, w = image.shape[:2]
    if step < 2 or min(h, w) // step < 4:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    small = cv2.resize(image, (w // step, h // step), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / step)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def capture(frame: np.ndarray, rng: np.random.Generator, noise: float,
            flicker: float) -> np.ndarray:
    """The sensor's reading of ``frame``: an exposure gain that flickers, and fresh noise."""
    gain = 1.0 + float(rng.normal(0.0, flicker)) if flicker > 0 else 1.0
    if noise <= 0:
        return cv2.convertScaleAbs(frame, alpha=gain)
    # Noise offset by 128 into uint8, and removed again inside one saturating
    # weighted sum: a third of the cost of a signed add.
    lut = np.clip(np.rint(_QUANTILES * noise) + 128, 0, 255).astype(np.uint8).reshape(1, 256)
    offset = cv2.LUT(random_bytes(rng, frame.shape), lut)
    return cv2.addWeighted(frame, gain, offset, 1.0, -128.0)


def gate_scene(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A still gate scene of ``size`` (w, h): a painted wall under uneven ceiling light,
    a door in its frame at one side, perhaps a notice and the ceiling line. uint8 BGR."""
    full = size
    w, h = max(size[0] // 2, 8), max(size[1] // 2, 8)  # smooth: drawn at half resolution
    wall = _WALLS[rng.integers(len(_WALLS))] * rng.uniform(0.9, 1.05, 3).astype(np.float32)
    canvas = flat((h, w), wall, np.float32)
    if rng.random() < 0.5:  # the ceiling, brighter, above a straight edge
        canvas[: int(rng.uniform(0.02, 0.1) * h)] = np.minimum(wall * 1.15, 0.95)
    side = rng.choice([-1, 1])
    door_w = rng.uniform(0.2, 0.3) * w
    x0 = rng.uniform(-0.05, 0.1) * w
    x0 = x0 if side < 0 else w - x0 - door_w
    top = int(rng.uniform(0.0, 0.15) * h)
    rim = max(2, int(0.025 * w))
    frame_colour = np.clip(wall * rng.uniform(0.75, 1.1), 0, 1).tolist()
    door = _DOORS[rng.integers(len(_DOORS))].tolist()
    x0i, x1i = int(x0), int(x0 + door_w)
    cv2.rectangle(canvas, (x0i - rim, top - rim), (x1i + rim, h), frame_colour, -1)
    cv2.rectangle(canvas, (x0i, top), (x1i, h), door, -1)
    handle_x = x1i - rim * 2 if side < 0 else x0i + rim
    cv2.rectangle(canvas, (handle_x, int(0.6 * h)), (handle_x + rim, int(0.6 * h) + rim // 2),
                  (0.15, 0.15, 0.16), -1)
    if rng.random() < 0.7:  # a notice on the wall, away from the door and the person
        nw = int(rng.uniform(0.07, 0.11) * w)
        nx = int(rng.uniform(0.05, 0.2) * w) if side > 0 else int(rng.uniform(0.7, 0.85) * w)
        ny = int(rng.uniform(0.1, 0.3) * h)
        cv2.rectangle(canvas, (nx, ny), (nx + nw, ny + int(1.4 * nw)), (0.9, 0.92, 0.93), -1)
        for i in range(int(rng.integers(3, 7))):
            ly = ny + int((0.15 + 0.13 * i) * nw * 1.4)
            cv2.rectangle(canvas, (nx + nw // 8, ly),
                          (nx + int(nw * rng.uniform(0.5, 0.88)), ly + max(1, nw // 25)),
                          (0.2, 0.2, 0.25), -1)
    # Uneven light: a ceiling lamp off to one side, a gradient from a window, plaster.
    lw, lh = max(w // 8, 8), max(h // 8, 8)
    ys, xs = np.mgrid[0:lh, 0:lw].astype(np.float32)
    xs, ys = xs / lw, ys / lh
    lamp = rng.uniform(0.1, 0.9)
    light = 0.75 + rng.uniform(-0.15, 0.15) * (xs - 0.5) - 0.12 * ys \
        + 0.25 * np.exp(-((xs - lamp) ** 2 / 0.12 + (ys + 0.1) ** 2 / 0.2))
    light += rng.normal(0.0, 0.012, size=light.shape).astype(np.float32)
    light = cv2.resize(light.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    scene = np.clip(canvas * light[..., None] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.resize(scene, full, interpolation=cv2.INTER_LINEAR)


def fill_borders(photo: np.ndarray, dark: int = 20) -> np.ndarray:
    """``photo`` with the black wedges an alignment warp leaves at its borders (as in
    LFW) filled from the nearby picture, as the original photo would have continued."""
    wedge = cv2.inRange(photo, (0, 0, 0), (dark, dark, dark))
    border = np.concatenate([wedge[0], wedge[-1], wedge[:, 0], wedge[:, -1]])
    if not border.any():
        return photo
    count, labels = cv2.connectedComponents(wedge, connectivity=4)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    # A warp's fill is pure black under the compression noise, and a thin sliver; a
    # dark room is neither, and stays as it is (so does a sliver merged into one).
    black = cv2.inRange(photo, (0, 0, 0), (4, 4, 4)).ravel() > 0
    area = np.bincount(labels.ravel(), minlength=count)
    purity = np.bincount(labels.ravel(), weights=black, minlength=count) / np.maximum(area, 1)
    edge = edge[(edge > 0) & (purity[edge] >= 0.3) & (area[edge] <= 0.08 * labels.size)]
    if not len(edge):
        return photo
    found = np.isin(labels, edge).astype(np.uint8)
    hole = cv2.dilate(found, np.ones((5, 5), np.uint8)) * 255  # and its ragged rim
    valid = cv2.cvtColor(255 - hole, cv2.COLOR_GRAY2BGR)
    kept = cv2.bitwise_and(photo, valid)
    fill: np.ndarray = np.zeros(photo.shape, np.float32)
    for sigma in (40.0, 12.0):  # coarse first, then sharper where there is support
        weight = smooth(valid.astype(np.float32), sigma)
        sharper = cv2.divide(smooth(kept.astype(np.float32), sigma), np.maximum(weight, 1.0),
                             scale=255.0)
        trust = np.clip(weight * (20.0 / 255.0) - 1.0, 0, 1)
        fill = cv2.add(fill, cv2.multiply(trust, cv2.subtract(sharper, fill)))
    filled = cv2.bitwise_and(cv2.convertScaleAbs(fill), 255 - valid)
    return cv2.add(kept, filled)


def fit_background(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` scaled to cover ``size`` (w, h) and centre-cropped to it."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3:
        raise ValueError(f"background must be a BGR uint8 image, got "
                         f"{getattr(image, 'shape', None)}")
    w, h = size
    scale = max(w / image.shape[1], h / image.shape[0])
    sw, sh = max(w, round(image.shape[1] * scale)), max(h, round(image.shape[0] * scale))
    big = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1
                     else cv2.INTER_LINEAR)
    x0, y0 = (sw - w) // 2, (sh - h) // 2
    return np.ascontiguousarray(big[y0:y0 + h, x0:x0 + w])


def drift(rng: np.random.Generator, frames: int, interval_s: float,
          amplitude: float) -> np.ndarray:
    """A smooth one-axis motion over a burst, 0 at frame 0, about ``amplitude`` per 0.5 s.

    A steady drift in a random direction plus a slower sway, the way a head or a hand
    wanders over half a second; frame times are ``interval_s`` apart.
    """
    t = np.arange(frames) * interval_s
    direction = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.0)
    sway, hz, phase = rng.uniform(0.0, 0.3), rng.uniform(0.7, 2.0), rng.uniform(0, 2 * np.pi)
    path = direction * t / 0.5 + sway * (np.sin(2 * np.pi * hz * t + phase) - np.sin(phase))
    return (amplitude * path).astype(np.float64)


def soft_region(shape: tuple[int, int], draw: Drawing, blur: float) -> np.ndarray:
    """A float32 0..1 mask of ``shape`` (h, w) from ``draw(canvas)`` on a uint8 canvas."""
    canvas = np.zeros(shape, np.uint8)
    draw(canvas)
    mask = canvas.astype(np.float32) * (1.0 / 255.0)
    return smooth(mask, blur)


def blend_into(frame: np.ndarray, layer: np.ndarray, alpha: np.ndarray, x0: int, y0: int) -> None:
    """Composite ``layer`` (uint8) with ``alpha`` (float32 0..1) into ``frame`` at (x0, y0).

    Parts that fall outside ``frame`` are dropped; ``frame`` is changed in place.
    """
    h, w = frame.shape[:2]
    lh, lw = alpha.shape[:2]
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + lw, w), min(y0 + lh, h)
    if fx1 <= fx0 or fy1 <= fy0:
        return
    sl = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
    a = np.ascontiguousarray(alpha[sl])
    region = frame[fy0:fy1, fx0:fx1]
    frame[fy0:fy1, fx0:fx1] = cv2.blendLinear(np.ascontiguousarray(layer[sl]), region, a,
                                              1.0 - a)


def paint(frame: np.ndarray, colour: np.ndarray, alpha: np.ndarray, x0: int, y0: int) -> None:
    """Blend a flat BGR ``colour`` into ``frame`` through ``alpha`` placed at (x0, y0)."""
    layer = flat(alpha.shape[:2], np.clip(colour, 0, 255))
    blend_into(frame, layer, alpha, x0, y0)


def silhouette(scene: np.ndarray, centre: np.ndarray, face_px: float,
               rng: np.random.Generator, blur: float = 1.5) -> np.ndarray:
    """``scene`` with an attacker's head and shoulders behind a held print or device.

    The head is ``face_px`` wide at ``centre``: hair framing it, ears, a face in the
    shadow of what is held in front of it, a neck, and shoulders in clothing shaded
    darker towards the edges. Drawn at a third of the resolution: it is soft anyway.
    """
    q = 3
    h, w = scene.shape[:2]
    e = face_px / 2.3 / q                         # eye distance on the coarse grid
    cx, cy = float(centre[0]) / q, float(centre[1]) / q
    x0, y0 = int(cx - 4 * e), int(cy - 2.5 * e)
    shape = (max(h // q - y0 + 1, 2), max(int(8 * e), 2))
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    u, v = (xs + x0 - cx) / e, (ys + y0 - cy) / e
    skin = SKIN[rng.integers(len(SKIN))] * 0.7
    hair = np.array([22, 26, 34], np.float32) * rng.uniform(0.6, 2.2)
    clothes = np.float32(rng.uniform(25, 130)) * rng.uniform(0.6, 1.4, 3).astype(np.float32)

    def oval(cu: float, cv: float, a: float, b: float) -> np.ndarray:
        d = ((u - cu) / a) ** 2 + ((v - cv) / b) ** 2
        return np.clip((1.0 - d) * min(a, b) * e / 2.0, 0, 1)  # a soft edge of a pixel or so

    head, face = oval(0, 0.35, 1.3, 1.75), oval(0, 0.6, 1.1, 1.5)
    ears = oval(-1.25, 0.35, 0.22, 0.38) + oval(1.25, 0.35, 0.22, 0.38)
    neck, torso = oval(0, 2.2, 0.7, 1.1), oval(0, 4.9, 3.4, 2.6)
    hair_mask = np.clip(oval(0, 0.1, 1.45, 1.6) - face * (v > -0.3), 0, 1)
    shade = np.clip(1.05 - 0.12 * (u * u / 1.5 + (v - 0.5) ** 2 / 3), 0.6, 1.1)[..., None]
    layer = clothes * np.clip(1.1 - 0.08 * np.abs(u) - 0.05 * (v - 3), 0.5, 1.2)[..., None]
    for mask, colour in ((neck * (1 - torso), skin * 0.75), (head, skin), (ears, skin * 0.85),
                         (hair_mask, hair)):
        layer += mask[..., None] * (colour * shade - layer)
    grain = cv2.resize(rng.normal(1.0, 0.04, (max(shape[0] // 4, 2), max(shape[1] // 4, 2))),
                       shape[::-1]).astype(np.float32)
    layer *= grain[..., None]
    alpha = np.clip(torso + neck + head + ears + hair_mask, 0, 1).astype(np.float32)
    full = (shape[1] * q, shape[0] * q)
    layer_u8 = cv2.resize(cv2.convertScaleAbs(layer), full)
    alpha_f = cv2.resize(cv2.GaussianBlur(alpha, (0, 0), blur / q), full)
    out = scene.copy()
    blend_into(out, layer_u8, alpha_f, q * x0, q * y0)
    return out

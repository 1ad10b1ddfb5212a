"""Text labels next to the points of a matplotlib panel, none overlapping another.

:func:`place` puts each label greedily at the first free spot among candidates around its point:
rings of growing radius, each tried in 16 directions starting up-right, the label facing its point
with its nearest edge or corner (as a map labels its towns). A spot is free when the
label's box stays inside the panel and overlaps no label already placed, no point's marker and no
``obstacles`` box (a line's own label). A label that ends up away from its first ring gets a thin
leader line to its point. Boxes are measured by the figure's renderer, so the layout must be final
(``tight_layout`` done) before labels are placed; :func:`overlaps` is the check the tests run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox

RINGS = (6, 10, 16, 24, 34, 46, 60, 76, 94)
"""Distances (points) from a point to its label's nearest edge, tried in this order."""
DIRECTIONS = 16
MARKER = 4.0
"""Half the side (points) of the box kept clear around every point's marker."""


@dataclass(frozen=True)
class Label:
    text: str
    x: float
    y: float


def place(ax: Axes, labels: list[Label], obstacles: list[Bbox] = (), fontsize: float = 6.5, **text_kw) -> list:
    """Annotate ``ax`` with ``labels`` (data coordinates), each where it overlaps nothing; returns the
    annotations. The points of every label are kept clear of all labels."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    scale = fig.dpi / 72.0
    frame = ax.get_window_extent(renderer)
    anchors = [ax.transData.transform((lab.x, lab.y)) for lab in labels]
    taken = list(obstacles) + [_square(px, py, MARKER * scale) for px, py in anchors]
    annotations = []
    for lab, (px, py) in zip(labels, anchors):
        probe = ax.text(0, 0, lab.text, fontsize=fontsize, **text_kw)
        box = probe.get_window_extent(renderer)
        probe.remove()
        width, height = box.width, box.height
        best, first_ring = None, True
        for ring in RINGS:
            for k in range(DIRECTIONS):
                angle = math.pi / 4 + 2 * math.pi * k / DIRECTIONS
                ax_, ay_ = px + ring * scale * math.cos(angle), py + ring * scale * math.sin(angle)
                spot = Bbox.from_bounds(ax_ - width * _align(math.cos(angle)), ay_ - height * _align(math.sin(angle)),
                                        width, height)
                if _inside(spot, frame) and not any(spot.overlaps(t) for t in taken):
                    best = spot
                    break
            if best is not None:
                break
            first_ring = False
        if best is None:  # nowhere free: up-right of its point (overlaps() reports it)
            best = Bbox.from_bounds(px + RINGS[0] * scale, py + RINGS[0] * scale, width, height)
        taken.append(best)
        offset = ((best.x0 + best.width / 2 - px) / scale, (best.y0 + best.height / 2 - py) / scale)
        arrow = None if first_ring else dict(arrowstyle="-", color="0.45", linewidth=0.5, shrinkA=0, shrinkB=2)
        annotations.append(ax.annotate(lab.text, (lab.x, lab.y), xytext=offset, textcoords="offset points",
                                       ha="center", va="center", fontsize=fontsize, arrowprops=arrow,
                                       annotation_clip=False, **text_kw))
    return annotations


def overlaps(texts: list) -> list[tuple[str, str]]:
    """The pairs of ``texts`` (matplotlib Text artists; an annotation's leader line left out) whose
    rendered boxes overlap."""
    renderer = texts[0].figure.canvas.get_renderer() if texts else None
    boxes = []
    for t in texts:
        if isinstance(t, Annotation):
            t.update_positions(renderer)
        boxes.append(Text.get_window_extent(t, renderer))
    return [(texts[i].get_text(), texts[j].get_text()) for i in range(len(texts)) for j in range(i + 1, len(texts))
            if boxes[i].overlaps(boxes[j])]


def _align(c: float) -> float:
    """Which part of the label faces its point: its left or bottom edge (0) when the label lies to
    the right or above, its right or top edge (1) to the left or below, its middle (0.5) in between."""
    return 0.0 if c > 0.3 else 1.0 if c < -0.3 else 0.5


def _square(x: float, y: float, half: float) -> Bbox:
    return Bbox.from_extents(x - half, y - half, x + half, y + half)


def _inside(box: Bbox, frame: Bbox) -> bool:
    return box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0 and box.y1 <= frame.y1

"""Group ink components into formulas by reading the 2-D layout of math.

Works on component bounding boxes (``N x 4`` arrays of x0, y0, x1, y1, exclusive ends) in the
deskewed work frame; every distance is measured in character heights so the same thresholds
serve small print and large handwriting.

Three passes:
1. glue: symbols into "words": neighbours closer than a fraction of their size (scripts, the
   parts of ``=`` and ``i``, root signs and their content overlap), and fraction bars with what
   sits directly above and below them;
2. rows: words that share a text line, split where the horizontal gap is much wider than the
   spacing inside a formula;
3. clean: exercise labels ("1.", "(a)") come off the front of a row's first formula, and
   groups that look like prose or specks are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class GroupingConfig:
    """Layout thresholds, in character heights unless stated otherwise."""

    glue_x: float = 0.6  # symbols closer than this (x) join into one word
    glue_y: float = 0.4  # ... and closer than this (y): scripts, '=' bars
    stack_y: float = 0.6  # symbols stacked in x join up to this far apart: limits, dots
    bar_min_width: float = 0.8  # a fraction bar is at least this wide ...
    bar_aspect: float = 4.0  # ... and this many times wider than thick
    fraction_gap: float = 1.1  # numerator/denominator at most this far from their bar
    overline_width: float = 2.0  # a bar this wide with content only below is a root's overline
    overline_gap: float = 0.7  # ... when the content is at most this far below
    split_gap: float = 2.2  # a wider gap on a row separates two formulas (hand data: <= 1.9)
    label_max_width: float = 2.6  # an exercise label ("1.", "(a)") is at most this wide ...
    label_gap: float = 0.4  # ... and followed by this much space (both in its own height)
    min_height: float = 0.45  # a group lower than this (and narrow) is a speck or a dot
    prose_min_words: int = 6  # a row of at least this many symbols or fused words ...
    prose_min_width: float = 20.0  # ... this wide (in median symbol heights) ...
    prose_max_gap: float = 0.25  # ... with median gaps this small (letters in words) ...
    prose_baseline_share: float = 0.6  # ... and this share on one baseline is prose


def char_height(heights: np.ndarray) -> float:
    """Typical character height: median of the components near the upper quartile.

    The upper quartile first skips dots, bars and operators (small, numerous in math); the
    median around it then ignores tall parentheses and page furniture.
    """
    heights = heights[heights >= 3]
    if len(heights) == 0:
        return 0.0
    upper = float(np.percentile(heights, 75))
    near = heights[(heights >= 0.5 * upper) & (heights <= 2.0 * upper)]
    return float(np.median(near))


class _UnionFind:
    def __init__(self, size: int):
        self.parent = np.arange(size)

    def find(self, item: int) -> int:
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:  # path compression
            self.parent[item], item = root, self.parent[item]
        return root

    def union_pairs(self, first: np.ndarray, second: np.ndarray) -> None:
        for a, b in zip(first.tolist(), second.tolist(), strict=True):
            ra, rb = self.find(a), self.find(b)
            if ra != rb:
                self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[np.ndarray]:
        roots = np.array([self.find(i) for i in range(len(self.parent))])
        order = np.argsort(roots, kind="stable")
        splits = np.flatnonzero(np.diff(roots[order])) + 1
        return np.split(order, splits) if len(order) else []


def _signed_gap(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Pairwise gap between intervals on one axis; negative: the length of their overlap."""
    return np.maximum(start[:, None], start[None, :]) - np.minimum(end[:, None], end[None, :])


def _gaps(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise horizontal and vertical gaps (0 where the boxes overlap on that axis)."""
    dx = np.maximum(0.0, _signed_gap(boxes[:, 0], boxes[:, 2]))
    dy = np.maximum(0.0, _signed_gap(boxes[:, 1], boxes[:, 3]))
    return dx, dy


def glue_symbols(boxes: np.ndarray, height: float, config: GroupingConfig) -> list[np.ndarray]:
    """Pass 1: component indices grouped into words (symbols, scripts, fractions)."""
    count = len(boxes)
    union = _UnionFind(count)
    if count < 2:
        return union.groups()
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    # Each symbol's own size, clipped: a '-' still counts as half a character, a tall bracket
    # as at most one and a half.
    size = np.clip(heights, 0.4 * height, 1.5 * height)
    pair_size = np.maximum(size[:, None], size[None, :])
    dx, dy = _gaps(boxes)
    near = (dx <= config.glue_x * pair_size) & (dy <= config.glue_y * pair_size)
    # Stacked symbols (limits under 'lim', a dot over 'i') sit further apart than neighbours.
    widths_min = np.minimum(widths[:, None], widths[None, :])
    x_overlap = -np.minimum(0.0, _signed_gap(boxes[:, 0], boxes[:, 2]))
    stacked = x_overlap >= 0.3 * widths_min
    near |= stacked & (dy <= config.stack_y * np.minimum(pair_size, height))
    first, second = np.nonzero(np.triu(near, 1))
    union.union_pairs(first, second)

    bars = np.flatnonzero(
        (widths >= config.bar_min_width * height) & (widths >= config.bar_aspect * heights)
    )
    centres = (boxes[:, 0] + boxes[:, 2]) / 2
    for bar in bars.tolist():
        x0, y0, x1, y1 = boxes[bar]
        slack = 0.2 * height
        inside = (centres >= x0 - slack) & (centres <= x1 + slack)
        inside[bar] = False
        reach = config.fraction_gap * size
        above = inside & (boxes[:, 3] <= y0 + 1) & (y0 - boxes[:, 3] <= reach)
        below = inside & (boxes[:, 1] >= y1 - 1) & (boxes[:, 1] - y1 <= reach)
        # Only a bar with something on both sides is a fraction; otherwise a minus or underline,
        # or, when wide with content just below, the overline of a root sign.
        if above.any() and below.any():
            partners = np.flatnonzero(above | below)
        elif x1 - x0 >= config.overline_width * height:
            partners = np.flatnonzero(below & (boxes[:, 1] - y1 <= config.overline_gap * size))
        else:
            continue
        union.union_pairs(np.full(len(partners), bar), partners)
    return union.groups()


def _span(boxes: np.ndarray) -> np.ndarray:
    return np.array([boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()])


def split_rows(
    boxes: np.ndarray, words: list[np.ndarray], height: float, config: GroupingConfig
) -> list[list[np.ndarray]]:
    """Pass 2: words on one text line, split into formulas at wide gaps (left to right)."""
    if not words:
        return []
    spans = np.array([_span(boxes[word]) for word in words])
    word_heights = spans[:, 3] - spans[:, 1]
    overlap = np.minimum(spans[:, None, 3], spans[None, :, 3]) - np.maximum(
        spans[:, None, 1], spans[None, :, 1]
    )
    same_row = overlap >= 0.5 * np.minimum(word_heights[:, None], word_heights[None, :])
    union = _UnionFind(len(words))
    first, second = np.nonzero(np.triu(same_row, 1))
    union.union_pairs(first, second)

    rows: list[list[np.ndarray]] = []
    for row in union.groups():
        members = np.concatenate([words[w] for w in row])
        row_height = max(char_height(boxes[members, 3] - boxes[members, 1]), 0.5 * height)
        formulas: list[np.ndarray] = []
        current: list[np.ndarray] = []
        right = -np.inf
        for w in row[np.argsort(spans[row, 0], kind="stable")].tolist():
            if current and spans[w, 0] - right > config.split_gap * row_height:
                formulas.append(np.concatenate(current))
                current = []
            current.append(words[w])
            right = max(right, spans[w, 2]) if len(current) > 1 else spans[w, 2]
        formulas.append(np.concatenate(current))
        rows.append(formulas)
    return rows


def _is_label(boxes: np.ndarray, config: GroupingConfig) -> bool:
    """Whether components (sorted by x) look like "12." or "(a)": a numbering, not math.

    Measured in the label's own height, so printed labels next to large handwriting count.
    """
    x0, y0, x1, y1 = _span(boxes)
    own = y1 - y0
    if len(boxes) < 2 or x1 - x0 > config.label_max_width * own:
        return False
    heights = boxes[:, 3] - boxes[:, 1]
    widths = boxes[:, 2] - boxes[:, 0]
    # A period: a small dot sitting on the baseline of at most three digits or letters. A dot
    # is about as tall as wide; a subscript i or l ending there is a stroke (x_i is math).
    period = (
        len(boxes) <= 4
        and heights[-1] <= 0.4 * own
        and widths[-1] <= 0.4 * own
        and heights[-1] <= 2 * widths[-1]
        and abs(boxes[-1, 3] - boxes[:-1, 3].max()) <= 0.25 * own
    )
    # Parentheses: tall narrow strokes at both ends around at most three symbols.
    parens = (
        3 <= len(boxes) <= 6
        and min(heights[0], heights[-1]) >= 0.7 * own
        and max(widths[0], widths[-1]) <= 0.5 * max(heights[0], heights[-1])
    )
    return bool(period or parens)


def strip_label(
    boxes: np.ndarray, formula: np.ndarray, config: GroupingConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Split an exercise label off the left of ``formula``: (label indices, formula indices)."""
    order = formula[np.argsort(boxes[formula, 0], kind="stable")]
    right = boxes[order[0], 2]
    for cut in range(1, min(len(order), 7)):
        head = order[:cut]
        own = boxes[head, 3].max() - boxes[head, 1].min()
        gap = boxes[order[cut], 0] - right
        if gap >= config.label_gap * own and _is_label(boxes[head], config):
            return head, order[cut:]
        right = max(right, boxes[order[cut], 2])
    return order[:0], formula


def is_prose(boxes: np.ndarray, height: float, config: GroupingConfig) -> bool:
    """Whether a group reads as a printed sentence: a long row of words on one baseline.

    Letters in words nearly touch (or fuse into one blob per word) and sit on the baseline;
    math spaces its operators, stacks scripts and fractions off the baseline, and nearly
    always has a bar (minus, equals, fraction) somewhere. Sentences are also longer than most
    formulas.
    """
    if len(boxes) < config.prose_min_words:
        return False
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    if np.any((widths >= 3 * heights) & (widths >= 0.4 * height) & (heights <= 0.35 * height)):
        return False
    row_height = float(np.median(heights))
    order = np.argsort(boxes[:, 0], kind="stable")
    boxes = boxes[order]
    if boxes[:, 2].max() - boxes[:, 0].min() < config.prose_min_width * row_height:
        return False
    gaps = boxes[1:, 0] - np.maximum.accumulate(boxes[:-1, 2])
    letters = 0 <= np.median(gaps) <= config.prose_max_gap * row_height
    # Small or blurred print fuses each word into one wide blob: then the blobs are words.
    words = np.median(widths) >= 1.5 * row_height
    if not (letters or words):
        return False
    # The baseline may still slope a little after deskewing: fit it, refit without descenders.
    centres = (boxes[:, 0] + boxes[:, 2]) / 2
    keep = np.ones(len(boxes), bool)
    for _ in range(2):
        slope, offset = np.polyfit(centres[keep], boxes[keep, 3], 1)
        on_baseline = np.abs(boxes[:, 3] - (slope * centres + offset)) <= 0.2 * row_height
        keep = on_baseline if on_baseline.sum() >= 2 else keep
    return bool(on_baseline.mean() >= config.prose_baseline_share)


def formula_score(boxes: np.ndarray, height: float) -> float:
    """Detection score 0..1: more ink structure typical of math, more confidence.

    Evidence: several symbols, a bar (minus, equals, fraction), symbols off the baseline
    (scripts, limits), character height, the width of several symbols (small print that blur
    fused into one blob). A single character-sized blob stays below 0.5.
    """
    widths = boxes[:, 2] - boxes[:, 0]
    heights = boxes[:, 3] - boxes[:, 1]
    group_height = boxes[:, 3].max() - boxes[:, 1].min()
    group_width = boxes[:, 2].max() - boxes[:, 0].min()
    bars = np.any((widths >= 2.0 * heights) & (heights <= 0.3 * height))
    centres = (boxes[:, 1] + boxes[:, 3]) / 2
    offset = np.abs(centres - np.median(centres)) > 0.3 * height
    evidence = min(len(boxes), 4) / 4 + float(bars) + float(offset.any())
    evidence += float(group_height >= 0.8 * height) + float(group_width >= 3 * height)
    return round(min(1.0, 0.2 + 0.2 * evidence), 3)


def group_formulas(
    boxes: np.ndarray, height: float, config: GroupingConfig
) -> list[tuple[np.ndarray, float]]:
    """All passes: component boxes -> (component indices, score) per formula.

    Args:
        boxes: ``N x 4`` float component boxes (x0, y0, x1, y1) in a deskewed frame.
        height: typical character height of the page in the same pixels.
        config: layout thresholds.
    """
    if len(boxes) == 0 or height <= 0:
        return []
    words = glue_symbols(boxes, height, config)
    # A word of nothing but flat slivers is a dash of a faint rule (a minus sign is glued to
    # its operands); left in, such dashes would chain along the row into a formula's box.
    heights = boxes[:, 3] - boxes[:, 1]
    flat = (heights <= 0.15 * height) & (boxes[:, 2] - boxes[:, 0] >= 2 * heights)
    words = [word for word in words if not flat[word].all()]
    results = []
    for row in split_rows(boxes, words, height, config):
        # Exercise labels stand at the left of a row, before its first formula.
        _, row[0] = strip_label(boxes, row[0], config)
        for formula in row:
            if len(formula) == 0:
                continue
            parts = boxes[formula]
            x0, y0, x1, y1 = _span(parts)
            if y1 - y0 < config.min_height * height and x1 - x0 < 2 * height:
                continue
            if _is_label(parts[np.argsort(parts[:, 0], kind="stable")], config):
                continue
            if is_prose(parts, height, config):
                continue
            results.append((formula, formula_score(parts, height)))
    return results

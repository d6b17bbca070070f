"""Segmentation: page images (or PDF text layers) in, formula boxes in page pixels out."""

from segmentation.detector import Box, FormulaDetector, PageTooLargeError
from segmentation.grouping import GroupingConfig
from segmentation.text_layer import formula_boxes

__all__ = ["Box", "FormulaDetector", "GroupingConfig", "PageTooLargeError", "formula_boxes"]

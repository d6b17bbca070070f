"""Segmentation: page images (or PDF text layers) in, formula boxes in page pixels out."""

from segmentation.detector import Box, FormulaDetector, PageTooLargeError

__all__ = ["Box", "FormulaDetector", "PageTooLargeError"]

"""The result schema every stage speaks: one JSON document per input document.

Bump ``SCHEMA_VERSION`` on any change a consumer could notice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = "1.1"  # 1.1: model.language_model


@dataclass
class Region:
    """One formula found on a page.

    Attributes:
        bbox: ``[x0, y0, x1, y1]`` in page pixels at the document's DPI.
        latex: recognized LaTeX (canonical, space-separated tokens).
        confidence: recognition confidence in 0..1.
        low_confidence: ``confidence`` is below the configured threshold.
        detection_score: how sure the detector is that this is a formula, 0..1.
        method: how the region was found (``"image"`` contours or ``"text_layer"``).
        repaired: post-processing had to balance braces or delimiters.
    """

    bbox: list[int]
    latex: str
    confidence: float
    low_confidence: bool
    detection_score: float = 1.0
    method: str = "image"
    repaired: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PageResult:
    """One page (a PDF page, an image, or one frame of a multi-page TIFF)."""

    index: int
    width: int = 0
    height: int = 0
    regions: list[Region] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "width": self.width,
            "height": self.height,
            "regions": [r.to_dict() for r in self.regions],
            "error": self.error,
            "warnings": list(self.warnings),
            "timings_ms": dict(self.timings_ms),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PageResult:
        page = cls(**{k: v for k, v in data.items() if k != "regions"})
        page.regions = [Region(**r) for r in data.get("regions", [])]
        return page


@dataclass
class DocumentResult:
    """Everything recognized in one input document.

    ``status`` is ``"ok"`` when the document could be read (pages may still carry their own
    errors) and ``"failed"`` when it could not be read at all (``error`` says why).
    """

    source: str
    status: str = "ok"
    error: str | None = None
    pages: list[PageResult] = field(default_factory=list)
    dpi: int = 200
    model: dict[str, Any] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    schema_version: str = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "source": self.source,
            "status": self.status,
            "error": self.error,
            "dpi": self.dpi,
            "model": dict(self.model),
            "pages": [p.to_dict() for p in self.pages],
            "timings_ms": dict(self.timings_ms),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DocumentResult:
        doc = cls(**{k: v for k, v in data.items() if k != "pages"})
        doc.pages = [PageResult.from_dict(p) for p in data.get("pages", [])]
        return doc

"""Formula recognizer: crops of formulas in, canonical LaTeX and a confidence out."""

from ocr_model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ocr_model.predictor import PredictorConfig, Recognition, Recognizer, load_recognizer
from ocr_model.vocab import UnknownTokenError, Vocabulary, canonical_latex, tokenize_latex

__all__ = [
    "CheckpointError",
    "PredictorConfig",
    "Recognition",
    "Recognizer",
    "UnknownTokenError",
    "Vocabulary",
    "canonical_latex",
    "load_checkpoint",
    "load_recognizer",
    "save_checkpoint",
    "tokenize_latex",
]

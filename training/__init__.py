"""Training, data readers and evaluation for the formula recognizer (imports ocr_model only)."""

"""One module per model family: loading, geometry, readout and the export body.

``MODELS`` names the families ``creme-fast export --model`` knows; each module
offers ``export(checkpoint, out, **options)`` and ``DEFAULT_LENGTH``.
"""
from creme_fast.export.models import borzoi, enformer

MODELS = {"enformer": enformer, "borzoi": borzoi}

__all__ = ["MODELS", "borzoi", "enformer"]

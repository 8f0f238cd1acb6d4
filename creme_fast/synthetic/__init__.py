"""A ground-truth model with planted regulatory grammar, and loci to test it on.

The rules are in :mod:`creme_fast.synthetic.grammar`; the shipped ONNX graph
(no PyTorch needed) is loaded by :func:`load_synthetic`; :func:`generate_loci`
plants elements and returns the truth every CREME test should recover.
"""
from creme_fast.synthetic.grammar import DEFAULT_GRAMMAR, Grammar
from creme_fast.synthetic.loci import (
    DEFAULT_DESIGNS,
    Element,
    LocusDesign,
    SyntheticLoci,
    generate_loci,
)
from creme_fast.synthetic.model import load_synthetic, synthetic_model_path

__all__ = ["DEFAULT_DESIGNS", "DEFAULT_GRAMMAR", "Element", "Grammar", "LocusDesign",
           "SyntheticLoci", "generate_loci", "load_synthetic", "synthetic_model_path"]

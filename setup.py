"""Build the native kernels (csrc/*.pyx) into creme_fast._native.

Cython directives are set once here. ``CREME_FAST_DEBUG=1`` at build time
turns bounds checking and memoryview initialisation checks back on and
compiles without optimisation, for debugging a kernel.
"""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("CREME_FAST_DEBUG", "0") not in ("", "0")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "initializedcheck": DEBUG,
    "wraparound": False,
    "cdivision": True,
    "embedsignature": True,
}

COMPILE_ARGS = ["-O0", "-g"] if DEBUG else ["-O3"]

extensions = [
    Extension(
        "creme_fast._native",
        sources=["csrc/_native.pyx"],
        include_dirs=["csrc"],
        extra_compile_args=COMPILE_ARGS,
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=DIRECTIVES,
        include_path=["csrc"],
        # a debug build must not reuse an optimised C file, and vice versa
        force=DEBUG,
    ),
)

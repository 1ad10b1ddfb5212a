"""mibench: a reference benchmark for model-inversion attacks and defenses."""

from .determinism import pin_float_environment

pin_float_environment()  # before torch initialises its CPU kernels (see mibench/determinism.py)

__version__ = "0.2.0"

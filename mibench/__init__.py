"""mibench: a reference benchmark for model-inversion attacks and defenses."""

__version__ = "0.1.0"

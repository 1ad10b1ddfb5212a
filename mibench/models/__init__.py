"""Architectures: feature backbones (registered by name) and the classifier that wraps them."""

from .classifier import Backbone, Classifier

__all__ = ["Backbone", "Classifier"]

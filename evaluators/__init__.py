"""Evaluators: one module each, registered through the ``mibench.evaluators`` entry-point group."""

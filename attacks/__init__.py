"""Attacks: one module or small package each, registered through the ``mibench.attacks`` group."""

"""Defenses: one module each, registered through the ``mibench.defenses`` entry-point group."""

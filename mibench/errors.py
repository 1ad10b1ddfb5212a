"""Exceptions with messages written for the person at the terminal."""


class MibenchError(Exception):
    """Base class: every error mibench raises on purpose. The CLI prints its message, no traceback."""


class UnknownComponentError(MibenchError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class DuplicateComponentError(MibenchError):
    pass


class PluginLoadError(MibenchError):
    pass


class DataSourceError(MibenchError):
    pass


class PrivateDataAccessError(MibenchError):
    """Raised when code running in the attack stage touches private data."""


class CacheError(MibenchError):
    pass


class ConfigError(MibenchError):
    pass


class LeaderboardError(MibenchError):
    pass


class TrainingError(MibenchError):
    """A training stage diverged (NaN or infinite loss); nothing is cached."""


class AssetError(MibenchError):
    """A named external file (weights) is missing or has the wrong checksum."""


class MissingAssetError(AssetError):
    """A named external file was not found anywhere it was looked for (a wrong checksum is a plain
    :class:`AssetError`). Optional metrics catch this one to report NaN with a note; never the other."""


class QueryBudgetError(MibenchError):
    """An attack asked the target for more queries than the budget it declared."""


class CheckpointError(MibenchError):
    """A classifier checkpoint that cannot be imported (missing, unsafe to unpickle, or of another layout)."""


class ComponentClashError(DuplicateComponentError):
    """Two installed distributions register the same component name; selecting it is ambiguous."""

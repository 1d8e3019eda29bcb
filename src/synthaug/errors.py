"""Errors a user can cause and fix: the CLI prints them as one clear message, no traceback."""


class SynthaugError(Exception):
    """A problem with the user's input (a file, a parameter, a server) and how to fix it."""


class ConfigError(SynthaugError):
    """A parameter in params.yaml (or an overlay) is missing or invalid."""


class DataError(SynthaugError):
    """Input data is missing, unreadable or inconsistent."""


class AudioError(DataError):
    """One audio file cannot be used; `reason` is a short machine-readable cause."""

    def __init__(self, path, reason: str, detail: str = ""):
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{self.path}: {reason}" + (f" ({detail})" if detail else ""))

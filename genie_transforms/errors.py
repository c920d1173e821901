"""The warning category of genie-transforms (the CLI shows these, and hides third-party warnings)."""


class GenieWarning(UserWarning):
    """Something about to give worse data than you expect (e.g. a prompt template the model was not trained with)."""


__all__ = [
    "GenieWarning",
]

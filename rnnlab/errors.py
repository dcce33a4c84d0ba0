"""Exceptions for user mistakes.

Everything a user can get wrong (a bad path, a bad shape, a corrupt checkpoint) raises
`RnnlabError`. It subclasses ValueError so library callers can catch the usual type; the CLI
turns it into one line on stderr and exit code 2, never a traceback.
"""


class RnnlabError(ValueError):
    """A problem with the user's input, with a message that names the bad value."""


class TrainingDiverged(RnnlabError):
    """The loss became NaN or infinite; the run stopped and its last saved checkpoint was kept."""

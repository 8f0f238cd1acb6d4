"""Warning and error classes shared by the package."""


class CremeFastWarning(UserWarning):
    """Something was done, but not what the caller may have expected.

    Raised, for example, when a dinucleotide shuffle is asked of a region that
    admits only one arrangement (too short, or a single token), so the
    "shuffle" is a copy.
    """


class NonFiniteOutput(ValueError):
    """The model returned NaN or infinity for a sequence.

    Attributes
    ----------
    row : int
        The sequence's row in the plan.
    """

    def __init__(self, message: str, row: int = -1) -> None:
        super().__init__(message)
        self.row = row

"""Warning and error classes shared by the package."""


class CremeFastWarning(UserWarning):
    """Something was done, but not what the caller may have expected.

    Raised, for example, when a dinucleotide shuffle is asked of a region that
    admits only one arrangement (too short, or a single token), so the
    "shuffle" is a copy.
    """

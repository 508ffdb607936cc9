"""sweeplab: repeated deep-learning experiments, honestly reported."""

__version__ = "0.1.0"

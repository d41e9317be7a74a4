"""proctor: one coordinator for Bittensor-style incentive networks."""

__version__ = "0.1.0"

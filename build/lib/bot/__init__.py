"""Soul Lab (소울 랩) fortune bot."""

__version__ = "0.1.0"

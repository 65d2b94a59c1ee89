"""spl: music source separation with the official Spleeter models."""

__version__ = "0.1.0"

"""slidelab: deep-learning pixel classification of whole-slide images in the browser."""

__version__ = "0.1.0"

"""Marrow-Find analysis engine: pure Python (numpy, OpenCV, scikit-image, TensorFlow), never Django.

TensorFlow is imported lazily inside the modules that need it, so importing this package is cheap
and safe in web processes.
"""

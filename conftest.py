"""Root test configuration: Keras picks its backend once, at import; collecting the doctests of
src/losskit/keras.py imports it, so the default is set here (NumPy: no TensorFlow needed)."""

import os

os.environ.setdefault("KERAS_BACKEND", "numpy")

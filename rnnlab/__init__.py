"""rnnlab: learn, train and inspect recurrent neural networks.

Importing the top-level package is cheap and does not import torch, so that
`rnnlab.reference` (pure NumPy) stays free of it.
"""

__version__ = "0.1.0"

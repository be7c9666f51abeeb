"""dynpmnn from Python: the FitzHugh–Nagumo layer as a PyTorch module over dynpmnn's own kernels
(``dynpmnn.torch``), run folders of ``dynpmnn train`` as PyTorch models (``dynpmnn.run``) and their
checkpoint files (``dynpmnn.checkpoint``). docs/python.md in the repository has the details.

``dynpmnn.torch`` and ``dynpmnn.run`` import PyTorch; this package itself does not.
"""
__version__ = "0.1.0"

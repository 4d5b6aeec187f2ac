import os
import sys

# Test-only helpers (PyTorch re-implementations of the networks) live next to the tests.
sys.path.insert(0, os.path.dirname(__file__))

"""Test-side code shared by the tests and the benchmarks (never shipped in the package).

* :mod:`tests.helpers.numerics`: seeded inputs, tolerance assertions, PyTorch references of
  small pieces (the conv epilogue);
* :mod:`tests.helpers.checkpoints`: checkpoints in the official layouts, written with
  ``torch.save``;
* :mod:`tests.torch_models`: the networks in PyTorch, written from the reference specs.

Everything is imported from the repository root as ``tests.<package>``: pytest puts the root
on the path (``pythonpath`` in pyproject.toml), and the benchmarks run as modules from the
root (``python -m benchmarks.models``).
"""

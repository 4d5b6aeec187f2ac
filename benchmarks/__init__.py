"""Speed and memory benchmarks against PyTorch and ONNX Runtime; run each as a module from
the repository root (``python -m benchmarks.models``), which also makes the reference
models of the tests importable as ``tests.torch_models``."""

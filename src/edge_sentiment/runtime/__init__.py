"""The light runtime: numpy, onnxruntime and the standard library only."""

"""Export a trained Keras model to an ONNX bundle (imports TensorFlow, tf2onnx and onnx when used)."""

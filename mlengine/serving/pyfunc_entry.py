"""The file MLflow runs to load the ONNX form (models from code: no pickle in the model).

It runs inside the exported model, where this package is `mlengine_serving`
(see `mlengine.onnx_pyfunc`); it is never imported as part of mlengine.
"""

import mlflow
from mlengine_serving.onnx_model import OnnxModel

mlflow.models.set_model(OnnxModel())

"""What a served ONNX model carries: the table schema, the cell parsing the pipeline's
cleaners share, the ONNX feed and the MLflow loader that serves it.

The modules import each other relatively and need numpy, pandas, pyarrow and onnxruntime
only (mlflow too, where MLflow loads the model). `mlengine.onnx_pyfunc` copies this folder
into the exported model as the package `mlengine_serving`, so a scoring server runs it with
neither mlengine nor scikit-learn, xgboost or torch installed, and with the very code the
model was trained beside.
"""

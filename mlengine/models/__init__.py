"""Estimators that scikit-learn and XGBoost do not provide.

Kept import-free on purpose: importing ``mlengine.models`` must not import torch, so the
CLI and config errors stay fast. Import the concrete module where it is used, e.g.
``from mlengine.models.torch_mlp import TorchMLPClassifier`` (or ``_target_`` it in YAML).
"""

"""The model registry: self-contained audio models, their registration, promotion and prediction.

audio_model.py  the predictor: audio in, class probabilities out (no MLflow), and its bundle on disk
pyfunc_model.py the MLflow pyfunc wrapper, logged as code (models-from-code)
packaging.py    logs a bundle as an MLflow model with signature, input example and requirements
versions.py     registers the pipeline's evaluated classifiers and ensembles as model versions
promotion.py    metric-gated moves of the `champion` alias, with the reasons as tags
prediction.py   classifies files and folders with a registered model
"""

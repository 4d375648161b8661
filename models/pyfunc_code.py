"""The risk model's MLflow pyfunc, as MLflow's "models from code" loads it (not imported by the project).

:func:`models.risk_model.log_model` logs this file's path, not a pickled object: MLflow copies the file
beside the model's artifacts and runs it when the model is loaded, and ``set_model`` hands it the wrapper,
whose ``load_context`` reads the saved RiskModel folder. Nothing is unpickled (MLflow warns against
CloudPickle-serialised Python models: loading a pickle runs whatever code it carries).
"""

from mlflow.models import set_model

from models.risk_model import pyfunc_wrapper

set_model(pyfunc_wrapper())

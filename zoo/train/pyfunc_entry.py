"""MLflow models-from-code entry: builds :class:`zoo.train.pyfunc_model.ZooPyfunc` when a model loads.

MLflow stores this file inside every zoo pyfunc model and runs it at load time instead of unpickling a
Python object, so the model's code is the installed ``zoo``'s (never a pickle from the artifact store).
"""

import mlflow.models

from zoo.train.pyfunc_model import ZooPyfunc

mlflow.models.set_model(ZooPyfunc())

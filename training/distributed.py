"""Distributed training (issue 16): :class:`DaskTrainer` fits the booster of ``RiskClassifier.fit`` with
``lightgbm.dask`` on a ``dask.distributed`` cluster and hands back a plain ``lgb.Booster``; everything else
of a run (calibration, tiers, evaluation, the model card, MLflow) is the single-process code.

Pass it as ``trainer=`` to ``training.run.fit_risk_model`` / ``train`` / ``train_from_sources``.

How the rows are laid out, and why:

- The training rows are dealt round-robin (row ``i`` → partition ``i mod n``) into one partition per worker,
  each scattered to its own worker (workers sorted by address). LightGBM's data-parallel learner then runs
  one process per worker (``tree_learner=data``); every worker grows the same trees from the summed
  histograms. Round-robin keeps every partition a sample of every month (each worker finds the bin edges of
  its share of the features from its own rows) and is deterministic.
- Early stopping is LightGBM's own ``early_stopping`` callback, run on every worker. Each worker judges it
  on its *local* validation rows, so every worker is given the **whole** validation set: all of them then
  see the same log-loss of the same model and stop at the same round (with a share each they could stop at
  different rounds and leave the others waiting on their sockets).
- A worker whose partition holds one class only is refused: ``LGBMClassifier`` label-encodes each worker's
  labels on their own, and a lone class 1 would become 0 there.
- Worker ``k`` is always LightGBM's rank ``k``. ``DaskLGBMClassifier.fit`` ranks the workers in the order
  the scheduler reports where its parts landed (``Client.who_has`` over a set of random keys), which changes
  from run to run; as each rank finds the bin edges of its block of features from its own rows, the trees
  changed with it (measured: 14 or 17 trees, test AUC 0.7405 or 0.7393 on the same data and seed). So this
  module runs ``lightgbm.dask``'s own steps itself, in a fixed order: a free port per worker
  (``_assign_open_ports_to_workers``), the machine list in worker order, and ``lightgbm.dask._train_part``
  (the worker side of ``DaskLGBMClassifier.fit``) on each worker; rank 0's ``LGBMClassifier`` — what
  ``DaskLGBMClassifier.to_local()`` would give — is the result. Both are private to lightgbm (pinned,
  ``constraints.txt``); tests/training/test_dask_train.py fails if they change.

LightGBM opens a socket per worker between the workers (a free port on each, at the workers' own addresses:
the loopback for a ``--dask-local`` cluster; no ``local_listen_port`` to set). The ports and the machine
list LightGBM writes into the model's parameter section are reset to its defaults, so the saved model does
not depend on which ports happened to be free; ``num_machines`` and ``tree_learner: data`` stay, as the
record of how the model was trained.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import lightgbm as lgb
import numpy as np

if TYPE_CHECKING:
    from distributed import Client

    from models.estimator import Rows

# RiskClassifier's LightGBM parameters → LGBMClassifier's own names (the scikit-learn wrapper would pass its
# defaults for these under its names beside ours under LightGBM's, and LightGBM would keep one of the two).
_SKLEARN_NAMES = {
    "objective": "objective",
    "learning_rate": "learning_rate",
    "num_leaves": "num_leaves",
    "max_depth": "max_depth",
    "min_data_in_leaf": "min_child_samples",
    "min_sum_hessian_in_leaf": "min_child_weight",
    "bagging_fraction": "subsample",
    "bagging_freq": "subsample_freq",
    "feature_fraction": "colsample_bytree",
    "lambda_l1": "reg_alpha",
    "lambda_l2": "reg_lambda",
    "seed": "random_state",
}
# lightgbm.dask sets each worker's thread count from the worker's own (``nthreads``).
_DROPPED = {"num_threads"}
_NETWORK_DEFAULTS = {"machines": "", "local_listen_port": "12400"}


def workers_of(client: Client) -> list[str]:
    """The cluster's worker addresses, sorted (partition ``k`` goes to the ``k``-th)."""
    return sorted(client.ncores())


def partition_rows(n_rows: int, n_parts: int) -> list[np.ndarray]:
    """Row indices of each partition: row ``i`` → partition ``i mod n_parts`` (order kept within each)."""
    if n_parts < 1:
        raise ValueError(f"the number of partitions must be at least 1, got {n_parts}")
    return [np.arange(k, n_rows, n_parts) for k in range(n_parts)]


def classifier_params(params: dict[str, Any]) -> dict[str, Any]:
    """``RiskClassifier._params()`` as keyword arguments of ``lightgbm.LGBMClassifier``."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in _DROPPED:
            continue
        out[_SKLEARN_NAMES.get(key, key)] = value
    return out


def portable_model_string(text: str) -> str:
    """A LightGBM model text with the run's network settings (the free ports, the worker list) reset to
    LightGBM's defaults: they say nothing about the model, and would make every run's artifact differ."""
    for key, value in _NETWORK_DEFAULTS.items():
        text = re.sub(rf"^\[{key}: [^\]\n]*\]$", f"[{key}: {value}]", text, count=1, flags=re.MULTILINE)
    return text


def _train_on_worker(part: dict[str, Any], **kwargs: Any) -> Any:
    """On a worker: LightGBM's own worker step (``lightgbm.dask._train_part``) on this worker's partition,
    with the process's stdout pointed at stderr meanwhile. LightGBM's native messages ('Listening…',
    'Connected to rank 1') come from threads it starts itself and print on stdout, which for a local cluster
    is the command's stdout (``--json`` must stay JSON)."""
    import ctypes

    from lightgbm import LGBMClassifier
    from lightgbm.dask import _train_part

    libc = ctypes.CDLL(None)
    libc.fflush(None)
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        return _train_part(model_factory=LGBMClassifier, list_of_parts=[part], **kwargs)
    finally:
        libc.fflush(None)
        os.dup2(saved, 1)
        os.close(saved)


@dataclass
class DaskTrainer:
    """A ``models.estimator.BoosterTrainer`` that trains on the cluster of ``client``: one partition of the
    training rows per worker, the validation rows on every worker, worker ``k`` (sorted by address) LightGBM's
    rank ``k``."""

    client: Client
    time_out_minutes: int = 120  # LightGBM's socket time-out (its default)

    def __call__(
        self,
        params: dict[str, Any],
        train: Rows,
        valid: Rows | None,
        *,
        feature_name: list[str],
        categorical_feature: list[str],
        num_boost_round: int,
        early_stopping_rounds: int | None,
    ) -> tuple[lgb.Booster, int]:
        from lightgbm.dask import _assign_open_ports_to_workers

        workers = workers_of(self.client)
        if not workers:
            raise ValueError("the Dask cluster has no workers")
        X, y, w = train
        if X.shape[0] < len(workers):
            raise ValueError(f"{X.shape[0]} training rows cannot be spread over {len(workers)} Dask workers")
        rows = partition_rows(X.shape[0], len(workers))
        for k, idx in enumerate(rows):
            if np.unique(y[idx]).size < 2:
                raise ValueError(
                    f"Dask partition {k} of the training rows holds one class only ({len(idx)} rows over "
                    f"{len(workers)} workers): use fewer workers"
                )
        parts = []
        for idx, worker in zip(rows, workers, strict=True):
            part: dict[str, Any] = {"data": X[idx], "label": y[idx]}
            if w is not None:
                part["weight"] = w[idx]
            if valid is not None:
                part["eval_set"] = [([valid[0]], [valid[1]])]
                if valid[2] is not None:
                    part["eval_sample_weight"] = [[valid[2]]]
            # a list around the dict: scatter would take a dict's items for separate keys
            [future] = self.client.scatter([part], workers=[worker], hash=False)
            parts.append(future)
        fit: dict[str, Any] = {
            "feature_name": feature_name,
            "categorical_feature": categorical_feature or "auto",
        }
        if valid is not None and early_stopping_rounds is not None:
            fit["callbacks"] = [lgb.early_stopping(early_stopping_rounds, verbose=False)]
        model_params = {**classifier_params(params), "n_estimators": num_boost_round, "tree_learner": "data"}
        ncores = self.client.ncores()
        # A free port on each worker, held open until its LightGBM process binds it; the machine list in
        # the order of ``workers``, so worker k is rank k on every run.
        sockets, ports = _assign_open_ports_to_workers(client=self.client, workers=workers)
        machines = ",".join(f"{urlparse(a).hostname}:{ports[a]}" for a in workers)
        futures = [
            self.client.submit(
                _train_on_worker,
                part,
                params={**model_params, "num_threads": ncores[worker]},
                machines=machines,
                local_listen_port=ports[worker],
                num_machines=len(workers),
                time_out=self.time_out_minutes,
                remote_socket=sockets[worker],
                return_model=rank == 0,
                workers=[worker],
                allow_other_workers=False,
                pure=False,
                **fit,
            )
            for rank, (worker, part) in enumerate(zip(workers, parts, strict=True))
        ]
        [model] = [m for m in self.client.gather(futures) if m is not None]
        booster = model.booster_
        best = int(booster.best_iteration or 0) if "callbacks" in fit else 0
        return lgb.Booster(model_str=portable_model_string(str(booster.model_to_string()))), best

"""``mlhep hyperopt``: NNPDF-style hyperparameter optimisation with optuna, trials batched as one program.

    space.py     the searched runcard keys, how they are sampled, a trial's runcard
    study.py     the shared study: storage (SQLite, journal file, RDB URL), sampler, pruner, trial budget
    batching.py  trials of one shape as replica rows of ONE engine program (per-row learning rates, ...)
    kfold.py     NNPDF4.0's k-fold over datasets: held-out chi2 reward, positivity penalty
    search.py    one worker's loop: ask a batch, train each shape group, grade, tell
    outputs.py   the trials table (HDF5) and the best runcard (YAML)
    report.py    ``mlhep report`` on a trials table: best trials, reward per trial and per hyperparameter
"""
from mlhep.hyperopt.search import Outcome, Settings, check_runcard, search

__all__ = ["Outcome", "Settings", "check_runcard", "search"]

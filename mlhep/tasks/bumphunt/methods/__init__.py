"""The bump-hunt methods, one entry function each: ``run_<method>(events, settings, ctx, ...) -> MethodResult``
with ``ctx`` the task's ``RunContext`` (``standalone_context`` outside ``mlhep fit``). Every ensemble trains as
one vmapped program through ``ctx.train``; replica r holds out fold r % k of the events and scores them."""
from mlhep.tasks.bumphunt.methods.anode import run_anode
from mlhep.tasks.bumphunt.methods.cathode import run_cathode
from mlhep.tasks.bumphunt.methods.classifiers import run_cwola, run_idealised, run_supervised
from mlhep.tasks.bumphunt.methods.common import (ClassifierSettings, FlowSettings, MethodResult, MethodSettings,
                                                 standalone_context)
from mlhep.tasks.bumphunt.methods.density import train_sideband_flow

__all__ = ["run_anode", "run_cathode", "run_cwola", "run_idealised", "run_supervised", "train_sideband_flow",
           "MethodSettings", "FlowSettings", "ClassifierSettings", "MethodResult", "standalone_context"]

"""Which experiment a model name means: one line per model, imported lazily so that the linear path never
imports torch. A new model is a subpackage with an ``Experiment`` subclass plus one line here."""

from __future__ import annotations

import importlib

from memgen_cli.errors import MemgenError
from memgen_cli.experiment import Experiment

# model -> (its Experiment subclass, the optional libraries its tasks need: checked first, so a missing extra is
# one line naming it)
EXPERIMENTS = {
    "linear": ("memgen_cli.linear.experiment:LinearExperiment", ()),
    "unet": ("memgen_cli.unet.experiment:UnetExperiment", ("torch", "diffusers")),
    "closedform": ("memgen_cli.closedform.experiment:ClosedFormExperiment", ()),
    "evaluate": ("memgen_cli.evaluate.experiment:EvaluateExperiment", ()),
}


def experiment_class(model: str) -> type[Experiment]:
    """The class of a model's experiment, without importing the libraries its tasks need (configs, columns)."""
    if model not in EXPERIMENTS:
        raise MemgenError(f"model: unknown model {model!r} (choose from {', '.join(EXPERIMENTS)})")
    module_name, class_name = EXPERIMENTS[model][0].split(":")
    return vars(importlib.import_module(module_name))[class_name]


def experiment_summary(model: str) -> tuple[str, tuple[str, ...]]:
    """(description, --set examples) of a model for the CLI's help, from its package alone: no numerics load."""
    package = importlib.import_module(EXPERIMENTS[model][0].split(":")[0].rsplit(".", 1)[0])
    return package.DESCRIPTION, package.OVERRIDE_EXAMPLES


def missing_libraries(model: str) -> list[str]:
    """The libraries a model's tasks need that are not installed (found without importing them)."""
    import importlib.util

    def missing(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is None
        except (ImportError, ValueError):  # a broken install, or a finder that refuses it
            return True

    return [name for name in EXPERIMENTS[model][1] if missing(name)]


def get_experiment(model: str) -> Experiment:
    """A model's experiment, ready to run: the libraries its tasks need are imported (or one line says which
    extra to install)."""
    cls = experiment_class(model)
    try:
        for library in EXPERIMENTS[model][1]:
            importlib.import_module(library)
    except ImportError as exc:
        raise MemgenError(f"model {model}: cannot import the libraries it needs ({exc}); "
                          f"install the extra: pip install 'memgen[{model}]'") from None
    return cls()

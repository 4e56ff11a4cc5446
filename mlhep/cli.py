"""The ``mlhep`` command: a thin click layer over the library (mlhep.fit, mlhep.io.results, the tasks).

Exit codes: 0 success; 2 runcard or command-line usage error (click's own, ``--replicas``, a runcard file that
does not exist); 3 results file, checkpoint or output path error (including an output that another run is
writing); 4 data or theory error; 130 interrupted. A bug still shows its traceback (exit 1).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from mlhep.engine import interrupts  # noqa: F401  (first thing: a Ctrl-C is never lost in a gc callback)
from mlhep.errors import Interrupted, MlhepError
from mlhep.paths import DEFAULT_RUNCARD, embedded_runcards
from mlhep.runtime import use_precision


def _runcard_path(runcard: str | None, example: str | None) -> Path:
    """The runcard to use: a file, an embedded example (``--example NAME``), or the embedded default."""
    if runcard and example:
        raise click.UsageError("give a runcard file or --example, not both")
    if runcard:
        return Path(runcard)
    shipped = embedded_runcards()
    name = example or DEFAULT_RUNCARD
    if name not in shipped:
        raise click.UsageError(f"no embedded runcard '{name}' (available: {', '.join(shipped)})")
    return shipped[name]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlhep")
def cli():
    """mlhep: runcard-driven ML fits for high-energy physics; every replica ensemble trains as one JAX program."""


@cli.command("tasks")
@click.option("-v", "--verbose", is_flag=True, help="also list every runcard key of each task")
def tasks_command(verbose):
    """List the registered tasks."""
    from mlhep.config import describe
    from mlhep.registry import broken_tasks, load_tasks
    from mlhep.runcard import CommonConfig
    if verbose:
        click.echo("common keys (every runcard):")
        click.echo("\n".join(describe(CommonConfig, "  ")))
    for name, task in sorted(load_tasks().items()):
        click.echo(f"{name:16s} {task.description}")
        if verbose:
            click.echo("\n".join(describe(task.Config, "    ")))
    for name, why in sorted(broken_tasks().items()):
        click.echo(f"{name:16s} UNAVAILABLE: {why}")


@cli.command("check")
@click.argument("runcard", type=click.Path(dir_okay=False), required=False)
@click.option("--example", metavar="NAME", help="check an embedded example runcard")
def check_command(runcard, example):
    """Validate a runcard (and that its data and theory are there) without fitting."""
    from mlhep.fit import load
    from mlhep.task import RunContext, training_forbidden
    path = _runcard_path(runcard, example)
    card, task = load(path)
    ctx = RunContext(runcard_path=path, seed=card.seed, replica_ids=None, fail=card.fail,
                     train=training_forbidden("validate (mlhep check)"), quiet=True)
    task.validate(card.config, ctx)
    click.echo(f"{path}: OK (task {card.task}, {card.replicas} replicas)")


@cli.command("fit")
@click.argument("runcard", type=click.Path(dir_okay=False), required=False)
@click.option("--example", metavar="NAME", help="run an embedded example runcard (see `mlhep examples`)")
@click.option("-o", "--output", type=click.Path(), help="results file (.h5)")   # bad paths: exit 3, in fit
@click.option("--replicas", metavar="A:B", help="train only replicas A..B-1 (e.g. one block of an array job)")
@click.option("--resume", is_flag=True, help="continue an interrupted run from its checkpoint")
@click.option("--sequential", is_flag=True, help="train replicas one by one (same results; for timing)")
@click.option("-q", "--quiet", is_flag=True, help="no progress output")
def fit_command(runcard, example, output, replicas, resume, sequential, quiet):
    """Fit RUNCARD (default: the embedded default runcard) and write an HDF5 results file."""
    from mlhep.fit import fit
    fit(_runcard_path(runcard, example), output=output, replicas=replicas, resume=resume, quiet=quiet,
        batch=False if sequential else None)


@cli.command("hyperopt")
@click.argument("runcard", type=click.Path(dir_okay=False))
@click.option("--trials", type=click.IntRange(1, 1_000_000), help="override hyperopt.trials")
@click.option("--storage", metavar="SPEC", help="override hyperopt.storage: FILE.db (SQLite), journal:FILE, or an RDB "
                                                "URL (relative paths: to the current folder)")
@click.option("--study", metavar="NAME", help="override hyperopt.study")
@click.option("--worker", type=click.IntRange(0, 2**20), envvar="SLURM_ARRAY_TASK_ID",
              help="this worker's index: its sampler seed is the hyperopt seed + WORKER [$SLURM_ARRAY_TASK_ID, 0]")
@click.option("-o", "--output", type=click.Path(), help="trials table (.h5; default RUNCARD-hyperopt.h5); the best "
                                                        "trial's runcard is written beside it as OUTPUT-best.yaml")
@click.option("--fail-running", is_flag=True, help="first close every trial still marked running as lost (after a "
                                                   "crash, when no other worker runs): the study then replaces them")
@click.option("-q", "--quiet", is_flag=True, help="no progress bars (one line per trial is still printed)")
def hyperopt_command(runcard, trials, storage, study, worker, output, fail_running, quiet):
    """Search the runcard's `hyperopt.space` with optuna; trials of one shape train as one program.

    Workers started with the same runcard and storage join one study (e.g. a SLURM array job, see
    scripts/slurm/); each writes the whole study's trials table after every batch."""
    import dataclasses

    from mlhep import hyperopt
    from mlhep.fit import load
    from mlhep.hyperopt import outputs, study as study_mod
    from mlhep.io.output import OutputLock, check_output, remove_stale_temporaries
    from mlhep.runtime import use_task
    path = Path(runcard)
    card, task = load(path)
    hyperopt.check_runcard(card, task)
    use_task(task.variant(card.config)[1])
    hcfg = card.hyperopt if trials is None else dataclasses.replace(card.hyperopt, trials=trials)
    out = Path(output or f"{path.stem}-hyperopt.h5")
    best = outputs.best_runcard_path(out)
    check_output(out, best)   # before the search, not after it
    default = out.with_name(out.name + ".journal")
    spec = (study_mod.storage_spec(storage, Path.cwd(), default) if storage else
            study_mod.storage_spec(hcfg.storage, path.parent, default))
    settings = hyperopt.Settings(storage=spec, study=study or hcfg.study, output=out, worker=worker or 0,
                                 quiet=quiet, fail_running=fail_running)
    with OutputLock(out):
        for stale in remove_stale_temporaries(out) + remove_stale_temporaries(best):
            click.echo(f"removed {stale}, left behind by a run that was killed")
        try:
            outcome = hyperopt.search(card, task, hcfg, settings, log=click.echo)
        except (Interrupted, KeyboardInterrupt):   # the running batch is closed as lost; finished trials are kept
            click.echo("mlhep: interrupted: the running batch of trials is lost, the finished trials stay in the "
                       "study; run the same command to continue it", err=True)
            raise click.exceptions.Exit(130) from None
    if not outcome.records:
        click.echo(f"study '{settings.study}' already has {hcfg.trials} trials")
    cols, attrs = outputs.read(outcome.table)
    if attrs["best_trial"] >= 0:
        click.echo(f"best trial of the study: {attrs['best_trial']} (reward {attrs['best_reward']:.6g})")
    click.echo(f"wrote {outcome.table} ({len(cols['number'])} trials)" +
               (f" and {outcome.best_runcard}" if outcome.best_runcard else ""))


@cli.command("merge")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())   # not results files: exit 3, in merge
@click.option("-o", "--output", required=True, type=click.Path(), help="merged results file")
def merge_command(inputs, output):
    """Join replica blocks of one runcard (e.g. from SLURM array jobs) into one results file."""
    from mlhep.io.results import merge
    path = merge([Path(p) for p in inputs], Path(output))
    click.echo(f"wrote {path}")


@cli.command("report")
@click.argument("results_file", type=click.Path())   # not a results file: exit 3, in Results.read
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), help="also write PNG plots here")
@click.option("--export", "export_dir", type=click.Path(file_okay=False),
              help="also write the results in the field tool's layout here (eft-fit binned: SMEFiT's JSON)")
def report_command(results_file, plot_dir, export_dir):
    """Print a summary of a results file (and plots with --plot DIR)."""
    from mlhep.report import export, plots, summary
    use_precision("float64")   # reports recompute chi2s from the stored arrays
    click.echo(summary(Path(results_file)))
    if plot_dir:
        for path in plots(Path(results_file), Path(plot_dir)):
            click.echo(f"wrote {path}")
    if export_dir:
        for path in export(Path(results_file), Path(export_dir)):
            click.echo(f"wrote {path}")


@cli.command("examples")
@click.argument("name", required=False)
def examples_command(name):
    """List the embedded example runcards, or print one (to copy and edit)."""
    shipped = embedded_runcards()
    if name is None:
        for stem, path in shipped.items():
            first = next((line[1:].strip() for line in path.read_text().splitlines() if line.startswith("#")), "")
            click.echo(f"{stem:28s} {first}")
        return
    click.echo(_runcard_path(None, name).read_text(), nl=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes (``MlhepError``, click usage errors) become one-line messages with their exit
    code (see the module docstring), never tracebacks; any other exception is a bug and keeps its traceback."""
    from mlhep.runtime import configure_process
    configure_process()
    try:
        cli.main(args=argv, prog_name="mlhep", standalone_mode=False)
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except Interrupted as exc:
        click.echo(f"mlhep: {exc}; continue with the same command and --resume", err=True)
        return 130
    except (click.exceptions.Abort, KeyboardInterrupt):  # Ctrl-C outside training (click turns it into Abort)
        click.echo("mlhep: interrupted outside training; no results file written (a fit whose training had "
                   "begun continues with the same command and --resume)", err=True)
        return 130
    except MlhepError as exc:
        click.echo(f"mlhep: error: {exc}", err=True)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())


def run() -> None:  # console-script entry point
    sys.exit(main())

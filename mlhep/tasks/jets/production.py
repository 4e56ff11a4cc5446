"""Produce a jet sample: plan the chunks, run them in worker processes, write them in canonical order.

The plan is a list of chunks in canonical order (chunk 0 of each process, chunk 1 of each, ...: any prefix of
a file is balanced between the classes). A SLURM array task ``i`` of ``n`` takes the i-th contiguous slice of
that list, so concatenating the parts in task order (``merge``) gives exactly the single-job file.
"""
from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from importlib import metadata


from mlhep.tasks.jets.chunk import ChunkSpec, generate_chunk
from mlhep.tasks.jets.detector import DetectorParams
from mlhep.tasks.jets.h5io import JetFileWriter
from mlhep.tasks.jets.sample import PROCESSES, SampleDefinition


@dataclass(frozen=True)
class ProductionPlan:
    """Settings of a whole sample (all of them go into the files' ``generation`` attribute)."""

    n_jets: int                                  # per process
    seed: int = 1
    chunk_size: int = 500                        # jets per chunk
    sample: SampleDefinition = SampleDefinition()
    detector: DetectorParams | None = DetectorParams()
    batch_events: int = 200
    processes: tuple[str, ...] = PROCESSES

    def chunks(self) -> list[ChunkSpec]:
        n_chunks = -(-self.n_jets // self.chunk_size)
        return [ChunkSpec(process=p, index=i, n_jets=min(self.chunk_size, self.n_jets - i * self.chunk_size),
                          seed=self.seed, sample=self.sample, detector=self.detector,
                          batch_events=self.batch_events)
                for i in range(n_chunks) for p in self.processes]

    def record(self) -> dict:
        """JSON-able description, with the generator versions."""
        versions = {}
        for package in ("pythia8mc", "fastjet", "numpy", "mlhep"):
            try:
                versions[package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                versions[package] = "unknown"
        return {"n_jets_per_process": self.n_jets, "seed": self.seed, "chunk_size": self.chunk_size,
                "batch_events": self.batch_events, "processes": list(self.processes),
                "sample": self.sample.to_dict(),
                "detector": "none" if self.detector is None else {"model": "mlhep-simple",
                                                                  **self.detector.to_dict()},
                "versions": versions}


def task_chunks(chunks: list[ChunkSpec], task_index: int, task_count: int) -> list[ChunkSpec]:
    """The contiguous slice of ``chunks`` that array task ``task_index`` of ``task_count`` makes."""
    if not (task_count >= 1 and 0 <= task_index < task_count):
        raise ValueError(f"task index {task_index} not in [0, {task_count})")
    n = len(chunks)
    return chunks[task_index * n // task_count:(task_index + 1) * n // task_count]


def run_chunks(specs: list, workers: int, worker=generate_chunk):
    """Yield (position in ``specs``, result) as chunks finish (in-process when ``workers`` is 1). ``worker(spec)``
    (picklable, module level) returns a dict whose ``stats`` has the spec's ``process`` and ``index``."""
    if workers <= 1:
        for i, spec in enumerate(specs):
            yield i, worker(spec)
        return
    # spawn: the parent may hold threads (JAX, BLAS) that a fork would copy in a broken state
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        positions = {(s.process, s.index): i for i, s in enumerate(specs)}
        for result in pool.imap_unordered(worker, specs):
            yield positions[(result["stats"]["process"], result["stats"]["index"])], result


def produce(plan: ProductionPlan, output, workers: int = 1, task_index: int = 0, task_count: int = 1,
            progress: bool = True) -> dict:
    """Generate this task's chunks of ``plan`` into ``output`` (atomically). Returns per-process statistics:
    {process: {"jets", "events", "cpu_seconds", "jets_per_cpu_second"}}."""
    from tqdm import tqdm

    specs = task_chunks(plan.chunks(), task_index, task_count)
    stats = {p: {"jets": 0, "events": 0, "cpu_seconds": 0.0} for p in plan.processes}
    done: dict[int, dict] = {}
    next_to_write = 0
    total = sum(s.n_jets for s in specs)
    with JetFileWriter(output, plan.record(), plan.sample.n_constituents, task_index, task_count) as writer, \
            tqdm(total=total, unit="jet", disable=not progress, desc=f"jets -> {output}") as bar:
        for position, result in run_chunks(specs, workers):
            done[position] = result
            s = result["stats"]
            stats[s["process"]]["jets"] += s["n_jets"]
            stats[s["process"]]["events"] += s["n_events"]
            stats[s["process"]]["cpu_seconds"] += s["seconds"]
            bar.update(s["n_jets"])
            while next_to_write in done:            # keep the canonical order
                writer.append(done.pop(next_to_write))
                next_to_write += 1
    for s in stats.values():
        s["jets_per_cpu_second"] = s["jets"] / s["cpu_seconds"] if s["cpu_seconds"] > 0 else float("nan")
    return stats


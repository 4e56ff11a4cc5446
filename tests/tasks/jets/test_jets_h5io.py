"""The jet file writer is atomic, the reader returns what was written, and merge concatenates array parts."""
from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from mlhep.errors import DataError
from mlhep.tasks.jets.h5io import JET_DATASETS, JetFileWriter, generation_settings, merge_parts, read_jets
from mlhep.tasks.jets.load import load_jets

GENERATION = {"seed": 5, "sample": {"jet_r": 0.8}}


def chunk(rng, n, index, label, c=6):
    return {"constituents": rng.normal(size=(n, c, 4)).astype(np.float32), "label": np.full(n, label, np.int8),
            "jet_p4": rng.normal(size=(n, 4)).astype(np.float32), "top_p4": rng.normal(size=(n, 4)).astype(np.float32),
            "n_constituents": rng.integers(1, 300, n).astype(np.int32), "chunk": np.full(n, index, np.int32),
            "stats": {"process": "top" if label else "qcd", "index": index, "n_jets": n, "n_events": 10 * n,
                      "seconds": 1.5, "pythia_seed": 42}}


def write(path, chunks, task_index=0, task_count=1, generation=GENERATION):
    with JetFileWriter(path, generation, n_constituents=6, task_index=task_index, task_count=task_count,
                       rows_per_chunk=4) as w:
        for c in chunks:
            w.append(c)


def test_round_trip_and_layout(tmp_path):
    rng = np.random.default_rng(0)
    chunks = [chunk(rng, 5, 0, 1), chunk(rng, 0, 0, 0), chunk(rng, 7, 1, 1)]
    path = tmp_path / "jets.h5"
    write(path, chunks)
    assert not (tmp_path / "jets.h5.partial").exists()
    sample = read_jets(path)
    for name in ("constituents", "label", "jet_p4", "top_p4", "n_constituents"):
        np.testing.assert_array_equal(getattr(sample, name), np.concatenate([c[name] for c in chunks]))
    assert len(sample) == 12 and len(read_jets(path, 3, 8)) == 5
    with h5py.File(path) as f:
        for name, (shape, dtype) in JET_DATASETS.items():
            assert f[name].dtype == dtype and f[name].shape == (12, *shape(6)) and f[name].maxshape[0] is None
        assert f["chunks"].shape == (3,) and f["chunks"]["n_events"].tolist() == [50, 0, 70]
        assert f.attrs["constituent_components"] == "E,px,py,pz"
    assert generation_settings(path) == GENERATION
    assert len(load_jets(path)) == 12


def test_failure_leaves_no_file_and_keeps_the_old_one(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "jets.h5"
    write(path, [chunk(rng, 3, 0, 1)])
    before = read_jets(path).constituents
    with pytest.raises(RuntimeError, match="worker died"):
        with JetFileWriter(path, GENERATION, n_constituents=6) as w:
            w.append(chunk(rng, 4, 0, 0))
            raise RuntimeError("worker died")
    assert not (tmp_path / "jets.h5.partial").exists()
    np.testing.assert_array_equal(read_jets(path).constituents, before)


def test_sigkill_mid_write_never_leaves_a_truncated_file(tmp_path):
    """A process killed (SIGKILL: no cleanup at all) while writing leaves only ``.partial``; the final name is
    untouched."""
    path = tmp_path / "killed.h5"
    code = f"""
import os, signal, numpy as np
from mlhep.tasks.jets.h5io import JetFileWriter
with JetFileWriter({str(path)!r}, {{}}, n_constituents=6) as w:
    n = 100
    w.append({{"constituents": np.ones((n, 6, 4), np.float32), "label": np.ones(n, np.int8),
              "jet_p4": np.ones((n, 4), np.float32), "top_p4": np.ones((n, 4), np.float32),
              "n_constituents": np.ones(n, np.int32), "chunk": np.zeros(n, np.int32)}})
    os.kill(os.getpid(), signal.SIGKILL)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert result.returncode == -9
    assert not path.exists() and (tmp_path / "killed.h5.partial").exists()


def test_merge_concatenates_parts_in_task_order(tmp_path):
    rng = np.random.default_rng(2)
    chunks = [chunk(rng, n, i // 2, i % 2) for i, n in enumerate([4, 3, 5, 2, 6])]
    single = tmp_path / "single.h5"
    write(single, chunks)
    parts = [tmp_path / "p0.h5", tmp_path / "p1.h5", tmp_path / "p2.h5"]
    write(parts[0], chunks[:2], 0, 3)
    write(parts[1], chunks[2:3], 1, 3)
    write(parts[2], chunks[3:], 2, 3)
    merged = tmp_path / "merged.h5"
    assert merge_parts([parts[2], parts[0], parts[1]], merged) == 20      # any order on the command line
    with h5py.File(single) as a, h5py.File(merged) as b:
        for name in [*JET_DATASETS, "chunks"]:
            np.testing.assert_array_equal(a[name][()], b[name][()])
        assert json.loads(a.attrs["generation"]) == json.loads(b.attrs["generation"])
        assert b.attrs["task_count"] == 1


def test_merge_refuses_inconsistent_parts(tmp_path):
    rng = np.random.default_rng(3)
    p0, p1, p1_other, p1_dup = (tmp_path / f"{n}.h5" for n in ("p0", "p1", "p1_other", "p1_dup"))
    write(p0, [chunk(rng, 2, 0, 1)], 0, 2)
    write(p1, [chunk(rng, 2, 1, 1)], 1, 2)
    write(p1_dup, [chunk(rng, 2, 1, 1)], 1, 2)
    write(p1_other, [chunk(rng, 2, 1, 1)], 1, 2, generation={"seed": 6})
    out = tmp_path / "out.h5"
    with pytest.raises(DataError, match="p1_other.h5 was generated with other settings"):
        merge_parts([p0, p1_other], out)
    with pytest.raises(DataError, match=r"missing \[1\]"):
        merge_parts([p0], out)
    with pytest.raises(DataError, match=r"repeated \[1\]"):
        merge_parts([p0, p1, p1_dup], out)
    (tmp_path / "junk.h5").write_bytes(b"junk")
    with pytest.raises(DataError, match="junk.h5: cannot open"):
        merge_parts([p0, tmp_path / "junk.h5"], out)
    assert not out.exists()

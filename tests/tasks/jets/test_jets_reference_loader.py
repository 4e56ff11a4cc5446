"""The reader of the top-tagging reference sample's files: round trips through the exact on-disk layouts."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from jet_fixtures import reference_columns, reference_values, write_pandas_fixed, write_pytables_table

from mlhep.errors import DataError
from mlhep.tasks.jets.load import file_layout, load_jets
from mlhep.tasks.jets.reference import read_reference

C = 7       # constituents per jet in the fixtures (200 in the public files)


def expected(floats, ints):
    """What the reader must return, from the column definitions alone."""
    n = floats.shape[0]
    constituents = floats[:, :4 * C].reshape(n, C, 4)       # E_i, PX_i, PY_i, PZ_i for i = 0, 1, ...
    return constituents, floats[:, 4 * C:4 * C + 4], ints[:, 1]


def check(sample, floats, ints):
    constituents, truth, label = expected(floats, ints)
    np.testing.assert_array_equal(sample.constituents, constituents)
    np.testing.assert_array_equal(sample.top_p4, truth)
    np.testing.assert_array_equal(sample.label, label)
    assert sample.constituents.dtype == np.float32 and sample.label.dtype == np.int8
    np.testing.assert_array_equal(sample.n_constituents, (constituents[..., 0] > 0).sum(axis=1))
    np.testing.assert_allclose(sample.jet_p4, constituents.astype(np.float64).sum(axis=1), rtol=1e-6)


@pytest.mark.parametrize("writer", [write_pytables_table, write_pandas_fixed], ids=["table", "fixed"])
def test_round_trip_h5py_written_layout(tmp_path, writer):
    rng = np.random.default_rng(1)
    floats, ints = reference_values(rng, 23, C)
    path = tmp_path / "train.h5"
    writer(path, floats, ints, C)
    check(read_reference(path), floats, ints)
    # row ranges, read in several steps
    part = read_reference(path, start=5, stop=19, step=4)
    check(part, floats[5:19], ints[5:19])
    assert file_layout(path) == "reference"
    check(load_jets(path, 2, 9), floats[2:9], ints[2:9])


@pytest.mark.parametrize("fmt", ["table", "fixed"])
def test_round_trip_pandas_written(tmp_path, fmt):
    """The public files were written by pandas ``to_hdf(key='table')`` in the table format; both formats are read.
    Also checks that the h5py fixture writers above produce files pandas reads back as the same frame."""
    pd = pytest.importorskip("pandas", reason="pandas not installed: the h5py-written layout test covers the reader")
    pytest.importorskip("tables", reason="PyTables not installed: the h5py-written layout test covers the reader")
    rng = np.random.default_rng(2)
    floats, ints = reference_values(rng, 17, C)
    float_names, int_names = reference_columns(C)
    frame = pd.DataFrame(floats, columns=float_names)
    for j, name in enumerate(int_names):
        frame[name] = ints[:, j]
    path = tmp_path / "val.h5"
    frame.to_hdf(path, key="table", format=fmt, mode="w")
    check(read_reference(path), floats, ints)

    mine = tmp_path / "mine.h5"
    (write_pytables_table if fmt == "table" else write_pandas_fixed)(mine, floats, ints, C)
    back = pd.read_hdf(mine, key="table")
    assert list(back.columns) == float_names + int_names
    np.testing.assert_array_equal(back[float_names].to_numpy(), floats)
    np.testing.assert_array_equal(back[int_names].to_numpy(), ints)


def test_malicious_pickle_is_refused(tmp_path):
    """Column names are pickles: one that names a global (here os.system) is refused, never executed."""
    rng = np.random.default_rng(3)
    floats, ints = reference_values(rng, 3, C)
    path = tmp_path / "evil.h5"
    evil = b"cos\nsystem\n(S'touch " + str(tmp_path / "pwned").encode() + b"'\ntR."
    write_pytables_table(path, floats, ints, C, kind_pickle=evil)
    with pytest.raises(DataError, match="evil.h5.*column names"):
        read_reference(path)
    assert not (tmp_path / "pwned").exists()


def test_bad_files_name_the_file(tmp_path):
    rng = np.random.default_rng(4)
    floats, ints = reference_values(rng, 3, C)
    names, _ = reference_columns(C)
    path = tmp_path / "no_px.h5"
    renamed = [n if n != "PX_3" else "QX_3" for n in names]
    write_pytables_table(path, floats, ints, C, kind_pickle=pickle.dumps(renamed, protocol=0))
    with pytest.raises(DataError, match="no_px.h5: constituent columns missing: PX_3"):
        read_reference(path)
    with pytest.raises(DataError, match="no group /jets"):
        read_reference(tmp_path / "no_px.h5", key="jets")
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(DataError, match="text.h5: cannot open as HDF5"):
        load_jets(text)

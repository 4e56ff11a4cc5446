"""LHAPDF6 writer: read back with an independent minimal reader (bicubic-free: linear in ln x, ln Q) and compare
with the analytic function that was written. (The ``lhapdf`` Python module is not on PyPI, so it cannot be
used here; this reader follows the lhagrid1 layout of arXiv:1412.7420.)"""
import numpy as np
import pytest

from mlhep.io.lhapdf import write_set
from mlhep.tasks.pdf.export import q_blocks

PIDS = (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 21)


def analytic(x, q, pid):
    """A smooth x f(x, Q) with flavour dependence and ln Q evolution."""
    return (1 + 0.1 * pid / 21) * x ** 0.3 * (1 - x) ** 3 * (1 + 0.05 * np.log(q))


def minimal_reader(path):
    """Independent lhagrid1 parser: list of (x, q, pids, values[ix, iq, ipid])."""
    text = open(path).read()
    header, *blocks = text.split("\n---\n")
    assert "Format: lhagrid1" in header
    out = []
    for block in blocks:
        lines = block.strip().splitlines()
        if len(lines) < 4:
            continue
        x, q = np.array(lines[0].split(), float), np.array(lines[1].split(), float)
        pids = [int(v) for v in lines[2].split()]
        vals = np.loadtxt(lines[3:]).reshape(len(x), len(q), len(pids))
        out.append((x, q, pids, vals))
    return out


def interpolate(blocks, x, q, pid):
    for bx, bq, pids, vals in blocks:
        if bq[0] <= q <= bq[-1]:
            ix = np.clip(np.searchsorted(bx, x) - 1, 0, len(bx) - 2)
            iq = np.clip(np.searchsorted(bq, q) - 1, 0, len(bq) - 2)
            tx = (np.log(x) - np.log(bx[ix])) / (np.log(bx[ix + 1]) - np.log(bx[ix]))
            tq = (np.log(q) - np.log(bq[iq])) / (np.log(bq[iq + 1]) - np.log(bq[iq]))
            v = vals[:, :, pids.index(pid)]
            return ((1 - tx) * (1 - tq) * v[ix, iq] + tx * (1 - tq) * v[ix + 1, iq]
                    + (1 - tx) * tq * v[ix, iq + 1] + tx * tq * v[ix + 1, iq + 1])
    raise ValueError(q)


def test_written_set_reads_back_and_interpolates(tmp_path):
    x = np.concatenate([np.geomspace(1e-6, 0.1, 100, endpoint=False), np.linspace(0.1, 1.0, 100)])
    blocks = q_blocks(1.65, 1e4, 40, [1.51, 4.92])
    assert blocks[0][-1] == pytest.approx(4.92) and blocks[1][0] == pytest.approx(4.92)   # threshold shared
    q_all = np.concatenate(blocks)
    grid = np.array([[[analytic(x, q, p) for p in PIDS] for q in q_all]])          # (1, nq, 11, nx)
    replicas = np.concatenate([grid * 0.98, grid * 1.02])
    folder = write_set(tmp_path, "toyset", x, blocks, replicas, PIDS, {"OrderQCD": 1})
    info = (folder / "toyset.info").read_text()
    assert "NumMembers: 3" in info and "Format: lhagrid1" in info and "ErrorType: replicas" in info
    assert "Flavors: [-5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 21]" in info
    assert (folder / "toyset_0000.dat").read_text().startswith("PdfType: central")
    assert (folder / "toyset_0002.dat").read_text().startswith("PdfType: replica")
    central = minimal_reader(folder / "toyset_0000.dat")
    assert len(central) == 2
    for xv, qv, pid in [(3.3e-5, 2.0, 21), (0.013, 7.7, 2), (0.41, 900.0, -1), (0.77, 3.1, 5)]:
        assert interpolate(central, xv, qv, pid) == pytest.approx(analytic(xv, qv, pid), rel=2e-3)
    member = minimal_reader(folder / "toyset_0002.dat")
    assert interpolate(member, 0.013, 7.7, 2) == pytest.approx(1.02 * analytic(0.013, 7.7, 2), rel=2e-3)

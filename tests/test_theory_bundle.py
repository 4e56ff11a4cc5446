"""The shipped theory bundle: complete, checksummed, built with the theory cards the code uses today, and equal to
a rebuild with yadism + eko (slow tier: a sample of points and one eko node, so the bundle cannot drift)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mlhep import theory_bundle
from mlhep.errors import DataError
from mlhep.physics import evolution, lh_toy
from mlhep.tasks.pdf import commondata, fktable
from mlhep.physics.theorycard import theory_card

ORDERS = ("LO", "NLO")


def test_bundle_holds_every_table_and_operator_the_embedded_runcards_read():
    files = theory_bundle.manifest()["files"]
    for order in ORDERS:
        for name in commondata.available_datasets():
            assert f"fktables/{fktable.fktable_name(name, order)}" in files, (name, order)
            assert fktable.available(name, order)
        card = theory_card(order)
        assert f"eko/{evolution.node_file_name(card, evolution.fit_xgrid(), evolution.node_grid(card))}" in files
    assert lh_toy.lh_cache_ready("LO")


def test_manifest_records_versions_and_the_cards_of_today():
    """File names carry a hash of the theory card, and the manifest the cards themselves: a change of the theory
    settings in the code without `make bundle` shows here."""
    manifest = theory_bundle.manifest()
    assert set(manifest["built_with"]) >= {"yadism", "eko", "pineappl", "nnpdf-data"}
    assert all(v != "not installed" for v in manifest["built_with"].values())
    for order in ORDERS:
        assert manifest["theory_cards"][order] == json.loads(json.dumps(theory_card(order)))
    assert manifest["theory_cards"]["LH-toy-LO"] == json.loads(json.dumps(lh_toy.lh_theory("LO")))


def test_every_bundle_file_matches_its_checksum():
    for relative in theory_bundle.manifest()["files"]:
        assert theory_bundle.bundled(relative).is_file()


def test_a_damaged_bundle_file_is_an_error_not_other_numbers(tmp_path, monkeypatch):
    name = "BCDMS_NC_NOTFIXED_P_EM-F2"
    relative = f"fktables/{fktable.fktable_name(name, 'NLO')}"
    copy, path = tmp_path / "bundle", tmp_path / "bundle" / relative
    path.parent.mkdir(parents=True)
    for part in (theory_bundle.MANIFEST, relative):
        shutil.copy(theory_bundle.bundle_dir() / part, copy / part)
    monkeypatch.setenv("MLHEP_THEORY_BUNDLE", str(copy))
    monkeypatch.setenv("MLHEP_CACHE", str(tmp_path / "empty-cache"))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=f"{path.name}: checksum mismatch"):
        fktable.load_fktable(name, "NLO")
    path.write_bytes(bytes(data[:1000]))
    with pytest.raises(DataError, match="truncated or replaced"):
        fktable.load_fktable(name, "NLO")


def test_theory_the_bundle_lacks_names_the_command_and_its_time(tmp_path, monkeypatch):
    monkeypatch.setenv("MLHEP_THEORY_BUNDLE", "0")
    monkeypatch.setenv("MLHEP_CACHE", str(tmp_path))
    with pytest.raises(DataError, match=r"build_fk_tables.py --datasets NMC_NC_NOTFIXED_P_EM-SIGMARED --order NLO"
                                        r".*make theory`, about 30 min"):
        fktable.load_fktable("NMC_NC_NOTFIXED_P_EM-SIGMARED", "NLO")


def test_a_broken_fk_table_in_a_user_folder_names_the_file(tmp_path):
    name = "SLAC_NC_NOTFIXED_P_EM-F2"
    (tmp_path / fktable.fktable_name(name, "LO")).write_bytes(b"not a zip file")
    with pytest.raises(DataError, match=f"{fktable.fktable_name(name, 'LO')}: not a readable FK table"):
        fktable.load_fktable(name, "LO", tmp_path)


REBUILT = {"BCDMS_NC_NOTFIXED_P_EM-F2": 4, "HERA_CC_318GEV_EP-SIGMARED": 3}


@pytest.mark.slow
@pytest.mark.parametrize("order", ORDERS)
def test_rebuilt_sample_of_fk_rows_equals_the_bundle(order):
    """yadism recomputes the first points of a fixed-target and a HERA CC set; contracted with the bundled eko
    operators they give the bundled rows. Same code and versions, but the adaptive quadratures subdivide by
    tolerances, so a different CPU's last bits can move a row by a few 1e-10 relative (measured 2.8e-10 in CI);
    1e-7 is still four orders below the 1e-3 accuracy the FK tables are built to."""
    for name, points in REBUILT.items():
        shipped = fktable.load_fktable(name, order)
        coefficients = fktable.dis_coefficients(name, order, max_points=points)
        rebuilt = fktable.combine(coefficients)
        rows = coefficients.index
        assert rows.size > 0
        np.testing.assert_allclose(rebuilt.table[rows], shipped.table[rows], rtol=1e-7, atol=1e-14)


@pytest.mark.slow
def test_one_eko_node_recomputed_equals_the_bundle():
    """eko run afresh for one node of the LO fit theory (nf = 4 patch) equals the bundled node operator, to
    1e-7 of its largest entry (a different CPU moved entries by 3e-10 of it: eko's adaptive Mellin quadrature)."""
    card = theory_card("LO")
    nodes, shipped = evolution.node_operators(card)
    index = 3
    fresh = evolution.run_eko(card, evolution.fit_xgrid(), [nodes[index]])[0]
    np.testing.assert_allclose(fresh, shipped[index], rtol=0, atol=1e-7 * np.abs(shipped[index]).max())

"""The toy task's own keys: an empty truth or a zero-width layer are located errors, not JAX tracebacks."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("section, key, message", [
    ("data: {truth: []}", "data.truth", "no coefficient"),
    ("model: {hidden: [0]}", "model.hidden", "valid range [1, 4096]"),
    ("data: {points: 10000000}", "data.points", "valid range [4, 1000000]"),
])
def test_toy_sizes_and_truth(tmp_path, run_cli, section, key, message):
    card = tmp_path / "toy.yaml"
    card.write_text(f"task: toy-regression\nreplicas: 2\n{section}\n")
    for command in ("check", "fit"):
        code, _, err = run_cli(command, card)
        assert code == 2 and "toy.yaml:3:" in err and key in err and message in err, err

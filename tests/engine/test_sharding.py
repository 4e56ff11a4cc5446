"""The replica axis sharded over two (forced) CPU devices gives the same numbers as one device."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = """
import json, sys
import jax, numpy as np
import mlhep
sys.path.insert(0, {tests!r})
from engine.test_replicas import Quadratic, engine
from mlhep.engine import train
assert len(jax.local_devices()) == 2, jax.local_devices()
result = train(Quadratic(), np.arange(5), seed=4, cfg=engine(shard={shard}))
leaf = jax.tree_util.tree_leaves(result.params)[0]
print(json.dumps({{"a": np.asarray(result.params["a"]).tolist(), "epochs": result.best_epoch.tolist()}}))
"""


def run(shard: bool) -> dict:
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", MLHEP_JAX_CACHE="0")
    code = SCRIPT.format(tests=str(Path(__file__).parents[1]), shard=shard)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sharded_replicas_match_unsharded():
    sharded, single = run(True), run(False)   # 5 replicas over 2 devices: padded to 6, padding dropped
    assert len(sharded["a"]) == 5
    assert sharded["epochs"] == single["epochs"]
    np.testing.assert_allclose(sharded["a"], single["a"], rtol=1e-12)

"""Training throughput (jets per second) of the jet-tag networks, one by one and as vmapped replica ensembles.

For each architecture (its default sizes), one jitted Adam step at a minibatch of 256 jets drawn from a pool of
synthetic jets (``mlhep.tasks.jets.models.synthetic``; throughput does not depend on the physics): a single
model, then R replicas vmapped into one step, each with its own parameters, batch statistics, dropout key and
minibatch rows from the shared pool (as the engine draws them). Running R models one by one costs R single
steps (the same compiled program), so the single-model rate is also the sequential ensemble's rate; the table
gives the batched rate and its ratio to it. Each setting is compiled first (the compile time is reported), then
timed over ``--steps`` steps. A setting whose activations would not fit in ``--max-gb`` (a rough estimate for
the pairwise networks, ParT and ParticleNet; the host's OOM killer would end the whole run) is skipped, and one
that fails anyway is reported as failed.

    python scripts/bench_jet_models.py [--models pfn part] [--replicas 1 8 32] [--particles 100] [--steps 20]
        [--batch 256] [--out benchmarks/jet-models.md]
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("MLHEP_JAX_CACHE", "0")     # measure compilation honestly
os.environ.setdefault("MLHEP_CPU_DEVICES", "1")   # one program on one device with every core

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from mlhep.runtime import configure_process, use_precision  # noqa: E402
from mlhep.tasks.jets.models import MODELS, build  # noqa: E402
from mlhep.tasks.jets.models.synthetic import labelled_toy  # noqa: E402


def make_step(net, optimizer, pool, labels):
    """step(params, state, opt_state, key, rows) -> (params, state, opt_state, loss) of one replica."""
    def step(params, state, opt_state, key, rows):
        batch = {name: a[rows] for name, a in pool.items()}

        def loss(p):
            logits, new_state = net.apply(p, state, batch, key, training=True)
            return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels[rows])), new_state
        (value, new_state), grads = jax.value_and_grad(loss, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_state, opt_state, value
    return step


def activation_gb(net, replicas: int, batch: int, particles: int) -> float:
    """A rough upper estimate (GB) of the activations one training step keeps for the backward pass, for the
    networks with per-pair or per-edge tensors (0 for the others, whose activations are small)."""
    m, n = net.module, replicas * batch
    if name_of(net) == "part":
        pair = 4 + 2 * sum(m.pair_embed_dims) + 2 * m.heads               # inputs, Dense + BN outputs, biases
        attention = 3 * m.heads * (m.particle_blocks + m.class_blocks)   # logits, softmax, dropout mask
        floats = n * particles ** 2 * (pair + attention)
    elif name_of(net) == "particlenet":
        floats = 0
        width = 7   # input features
        for k, channels in m.conv_params:
            floats += n * particles * k * (2 * width + 3 * sum(channels))
            width = channels[-1]
    else:
        return 0.0
    return 4 * floats / 1e9


def name_of(net) -> str:
    return next(name for name, cls in MODELS.items() if isinstance(net.module, cls))


def measure(name: str, replicas: int | None, args, pool, labels) -> tuple[float, float]:
    """(compile seconds, jets per second) of ``replicas`` vmapped replicas (None: one model, no vmap)."""
    net = build(name)
    optimizer = optax.adam(1e-3)
    step = make_step(net, optimizer, pool, labels)
    n_pool = labels.shape[0]
    r = replicas or 1
    keys = jax.random.split(jax.random.PRNGKey(0), r)
    example = {k: v[:1] for k, v in pool.items()}
    params, state = jax.vmap(net.init, in_axes=(0, None))(keys, example)
    opt_state = jax.vmap(optimizer.init)(params)
    if replicas is None:
        params, state, opt_state = jax.tree.map(lambda a: a[0], (params, state, opt_state))
        run = jax.jit(step, donate_argnums=(0, 1, 2))
    else:
        run = jax.jit(jax.vmap(step), donate_argnums=(0, 1, 2))

    def rows_and_keys(i):
        k = jax.random.fold_in(jax.random.PRNGKey(1), i)
        rows = jax.random.randint(k, (r, args.batch), 0, n_pool)
        step_keys = jax.random.split(jax.random.fold_in(k, 1), r)
        return (rows[0], step_keys[0]) if replicas is None else (rows, step_keys)

    rows, step_keys = rows_and_keys(0)
    start = time.perf_counter()
    params, state, opt_state, loss = run(params, state, opt_state, step_keys, rows)
    jax.block_until_ready(loss)
    compile_seconds = time.perf_counter() - start
    inputs = [rows_and_keys(i) for i in range(1, args.steps + 1)]
    jax.block_until_ready(inputs)
    start = time.perf_counter()
    for rows, step_keys in inputs:
        params, state, opt_state, loss = run(params, state, opt_state, step_keys, rows)
    jax.block_until_ready(loss)
    seconds = time.perf_counter() - start
    return compile_seconds, r * args.batch * args.steps / seconds


def available_gb() -> float:
    """Free memory (GB) from /proc/meminfo (8 where that is unavailable)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1e6
    except OSError:
        pass
    return 8.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--particles", type=int, default=100, help="constituent slots per jet (zero-padded)")
    parser.add_argument("--batch", type=int, default=256, help="minibatch size per replica")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per setting")
    parser.add_argument("--pool", type=int, default=4096, help="synthetic jets the minibatches are drawn from")
    parser.add_argument("--pixels", type=int, default=40, help="jet image size (the CNN's input)")
    parser.add_argument("--max-gb", type=float, default=0.6 * available_gb(),
                        help="skip settings whose estimated activations exceed this (default: 60%% of free memory)")
    parser.add_argument("--out", default=None, help="also write the markdown table here")
    args = parser.parse_args()

    configure_process()
    use_precision("float32")
    pool, labels = labelled_toy(jax.random.PRNGKey(0), args.pool, args.particles, pixels=args.pixels)
    lines = [f"Jet-tag training throughput: one Adam step, minibatch {args.batch} per replica, {args.particles} "
             f"constituent slots, default model sizes; {platform.processor() or platform.machine()}, "
             f"{jax.device_count()} {jax.default_backend()} device(s), jax {jax.__version__}.",
             "Sequential R models run at the single-model rate; 'x single' is the batched rate over it.", "",
             "| model | params | single (jets/s) | " + " | ".join(f"R={r} batched (jets/s, x single)"
                                                        for r in args.replicas) + " | compile single (s) |",
             "|---" * (3 + len(args.replicas)) + "|---|"]
    print("\n".join(lines), flush=True)
    for name in args.models:
        net = build(name)
        params, _ = net.init(jax.random.PRNGKey(0), {k: v[:1] for k, v in pool.items()})
        size = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(params))
        cells, single, compile_single = [], None, float("nan")
        need = activation_gb(net, 1, args.batch, args.particles)
        try:
            if need > args.max_gb:
                raise MemoryError(f"~{need:.0f} GB")
            compile_single, single = measure(name, None, args, pool, labels)
        except MemoryError as err:
            cells.append(f"skipped: {err}")
        except Exception as err:   # noqa: BLE001 - report and go on
            cells.append(f"failed: {type(err).__name__}")
        for r in args.replicas:
            need = activation_gb(net, r, args.batch, args.particles)
            if single is None or need > args.max_gb:
                cells.append("-" if single is None else f"skipped: ~{need:.0f} GB")
                continue
            try:
                _, rate = measure(name, r, args, pool, labels)
                cells.append(f"{rate:,.0f} ({rate / single:.2f}x)")
            except Exception as err:   # noqa: BLE001
                cells.append(f"failed: {type(err).__name__}")
        head = f"{single:,.0f}" if single else cells.pop(0)
        line = f"| {name} | {size:,} | {head} | " + " | ".join(cells) + f" | {compile_single:.1f} |"
        lines.append(line)
        print(line, flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

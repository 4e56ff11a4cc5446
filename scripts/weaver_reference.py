"""Time weaver-core's own ParticleNet (PyTorch) on given jets: the reference side of the ParticleNet comparison in
``scripts/bench_jets.py``. Runs in weaver's environment, never in mlhep's:

    <weaver-venv>/bin/python scripts/weaver_reference.py input.npz output.npz

input.npz: ``particles`` (N, P, F) float32 per-constituent features (the first two: delta eta / y, delta phi,
ParticleNet's first kNN coordinates), zero for padded slots; ``mask`` (N, P) bool; ``label`` (N,) 0/1; ``rows``
(warmup + steps, batch) int, the minibatch rows of every step (random, from the pool); scalars
``warmup``, ``lr``, ``seed``; ``conv_k`` (L,), ``conv_channels`` (L, 3), ``fc_width``, ``fc_dropout`` (the
network's sizes). Optional: ``epochs`` > 0 with ``train_rows`` (N_train,) and ``test_rows``: then also train
that many epochs over the training rows (shuffled, minibatches of ``rows.shape[1]``) and score the test rows.
output.npz: ``step_seconds`` (steps,) wall time of each timed step; ``n_parameters``; ``versions``;
with epochs: ``epoch_seconds`` (epochs,), ``test_score`` (N_test,) P(top).

The network is ``weaver.nn.model.ParticleNet.ParticleNet`` with ``trim=False``: weaver's default SequenceTrimmer
would, in training, drop the particles of each minibatch beyond a random 90-100 % quantile of the jets' lengths
(a speed and augmentation trick that mlhep's network does not have). One training step = forward, 2-class cross
entropy, backward, Adam, as weaver's ``train_classification`` does; torch uses its default intra-op threads.
"""
from __future__ import annotations

import sys
import time

import numpy as np
import torch

from weaver.nn.model.ParticleNet import ParticleNet


def main(source: str, target: str) -> None:
    given = np.load(source)
    torch.manual_seed(int(given["seed"]))
    particles = torch.from_numpy(np.ascontiguousarray(given["particles"].transpose(0, 2, 1)))   # (N, F, P)
    points = particles[:, :2].contiguous()
    mask = torch.from_numpy(given["mask"][:, None, :].astype(np.float32))                       # (N, 1, P)
    label = torch.from_numpy(given["label"].astype(np.int64))
    conv = [(int(k), tuple(int(c) for c in ch)) for k, ch in zip(given["conv_k"], given["conv_channels"])]
    model = ParticleNet(particles.shape[1], 2, conv_params=conv,
                        fc_params=[(int(given["fc_width"]), float(given["fc_dropout"]))], trim=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(given["lr"]))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(rows):
        rows = torch.from_numpy(rows)
        optimizer.zero_grad()
        loss = loss_fn(model(points[rows], particles[rows], mask[rows]), label[rows])
        loss.backward()
        optimizer.step()
        return loss.item()

    model.train()
    all_rows, warmup = given["rows"], int(given["warmup"])
    for rows in all_rows[:warmup]:
        step(rows)
    seconds = []
    for rows in all_rows[warmup:]:
        start = time.perf_counter()
        step(rows)
        seconds.append(time.perf_counter() - start)
    out = {"step_seconds": np.array(seconds), "n_parameters": sum(p.numel() for p in model.parameters()),
           "versions": f"torch {torch.__version__}, threads {torch.get_num_threads()}"}

    epochs = int(given["epochs"]) if "epochs" in given else 0
    if epochs > 0:
        batch, train_rows = all_rows.shape[1], given["train_rows"]
        rng = np.random.default_rng(int(given["seed"]))
        out["epoch_seconds"] = []
        for _ in range(epochs):
            start = time.perf_counter()
            order = rng.permutation(train_rows)
            for i in range(0, order.size - batch + 1, batch):
                step(order[i:i + batch])
            out["epoch_seconds"].append(time.perf_counter() - start)
        model.eval()
        test = torch.from_numpy(given["test_rows"])
        scores = []
        with torch.no_grad():
            for i in range(0, test.numel(), 4096):
                rows = test[i:i + 4096]
                scores.append(torch.softmax(model(points[rows], particles[rows], mask[rows]), dim=1)[:, 1].numpy())
        out["test_score"] = np.concatenate(scores)
    np.savez(target, **out)


if __name__ == "__main__":
    main(*sys.argv[1:3])

"""PyTorch on Convoy's default model, one thread, for `pnpm bench` (bench/train.ts runs it).

Same model as Convoy (NCHW): Conv2d(1,32,3) relu -> Conv2d(32,64,3) relu -> MaxPool 2x2
-> Flatten -> Linear(9216,128) relu -> Linear(128,10), cross-entropy, Adadelta(lr=1,
rho=0.95, eps=1e-7). A training step is forward + backward + update.

Install (Debian bookworm):
  apt-get update && apt-get install -y python3-torch          # PyTorch 1.13 with the reference BLAS
  apt-get install -y libopenblas0-openmp                      # the OpenBLAS variant:
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 bench/torch_bench.py
(bench/train.ts runs both variants when `import torch` works.)

Usage: torch_bench.py SECONDS BATCH... ; prints one JSON object.
"""
import json
import sys
import time

import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.manual_seed(0)


def model():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(),
        nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(9216, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def images_per_second(batch, seconds, step):
    """images/s by the wall clock and per CPU-second of this process (as bench/measure.ts)."""
    step()  # warm-up
    steps = 0
    start = time.perf_counter()
    start_cpu = time.process_time()
    while steps == 0 or time.perf_counter() - start < seconds:
        step()
        steps += 1
    return {"wall": steps * batch / (time.perf_counter() - start), "cpu": steps * batch / (time.process_time() - start_cpu)}


def main():
    seconds = float(sys.argv[1])
    batches = [int(b) for b in sys.argv[2:]]
    net = model()
    optimizer = torch.optim.Adadelta(net.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    train = {}
    for batch in batches:
        x = torch.rand(batch, 1, 28, 28)
        y = torch.arange(batch) % 10

        def step():
            optimizer.zero_grad()
            loss_fn(net(x), y).backward()
            optimizer.step()

        train[batch] = images_per_second(batch, seconds, step)
    x = torch.rand(64, 1, 28, 28)

    def infer():
        with torch.no_grad():
            torch.softmax(net(x), dim=1)

    inference = images_per_second(64, seconds, infer)
    config = torch.__config__.show()
    blas = "OpenBLAS" if "openblas" in open("/proc/self/maps").read().lower() else "reference BLAS"
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas,
                      "train": train, "inference": inference, "mkldnn": "USE_MKLDNN=ON" in config}))


main()

"""PyTorch peers of `digitlab bench` for bench/compare: the seed-002 CNN or the time-to-accuracy CNN
on MNIST, trained and run the way a Python user would, plainly (as the studies' scripts) or tuned
(channels_last, whole-tensor batches, and whichever of fp32 and bf16 autocast trains faster on this
CPU, measured on the spot)."""
import argparse
import json
import os
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class TwoConvNet(nn.Module):
    """Two convolutions, each with ReLU and 2x2 max-pooling, then two dense layers: the shape of
    both benchmark networks."""

    def __init__(self, kernel, padding, side, hidden, log_softmax):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel, padding=padding)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=padding)
        self.fc1 = nn.Linear(64 * side * side, hidden)
        self.fc2 = nn.Linear(hidden, 10)
        self.log_softmax = log_softmax

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))
        return F.log_softmax(x, dim=1) if self.log_softmax else x


def seed002_net():
    """Seed 002's CNN: 421,642 parameters, log-softmax outputs and NLL loss."""
    return TwoConvNet(kernel=3, padding=1, side=7, hidden=128, log_softmax=True)


def fast_net():
    """`digitlab bench --what time-to-accuracy`'s CNN, C32k5v-P-C64v-P-256-10: 431,754 parameters,
    logits and cross-entropy."""
    return TwoConvNet(kernel=5, padding=0, side=5, hidden=256, log_softmax=False)


# --model: the network and its loss on its outputs.
MODELS = {"seed002": (seed002_net, F.nll_loss), "fast": (fast_net, F.cross_entropy)}


def read_idx(path, offset):
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


class MnistItems(torch.utils.data.Dataset):
    """Per-item conversion and normalization, as ToTensor() + Normalize() do in the studies."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = torch.from_numpy(self.images[i].astype(np.float32) / 255.0).unsqueeze(0)
        return (x - 0.1307) / 0.3081, int(self.labels[i])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["plain", "tuned"], required=True)
    ap.add_argument("--model", choices=sorted(MODELS), default="seed002")
    ap.add_argument("--data", default="data/mnist")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    tuned = args.mode == "tuned"

    images = read_idx(os.path.join(args.data, "train-images-idx3-ubyte"), 16).reshape(-1, 28, 28)
    labels = read_idx(os.path.join(args.data, "train-labels-idx1-ubyte"), 8).astype(np.int64)
    test = read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte"), 16).reshape(-1, 1, 28, 28)
    test = (torch.from_numpy(test.astype(np.float32) / 255.0) - 0.1307) / 0.3081

    make_model, loss_of = MODELS[args.model]
    model = make_model()
    fmt = torch.channels_last if tuned else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    if tuned:
        # Whole-set tensors indexed per batch: no per-item Python work.
        xs = ((torch.from_numpy(images.astype(np.float32) / 255.0) - 0.1307) / 0.3081).unsqueeze(1)
        ys = torch.from_numpy(labels)

        def batches():
            while True:
                order = torch.randperm(len(ys))
                for s in range(0, len(ys), args.batch_size):
                    idx = order[s : s + args.batch_size]
                    yield xs[idx].contiguous(memory_format=fmt), ys[idx]
    else:
        loader = torch.utils.data.DataLoader(
            MnistItems(images, labels), batch_size=args.batch_size, shuffle=True
        )

        def batches():
            while True:
                yield from loader

    def train(steps, bf16):
        """Images per second over `steps` Adam steps after 30 of warm-up."""
        warmup, step, seen = 30, 0, 0
        model.train()
        for x, y in batches():
            if step == warmup:
                t0 = time.perf_counter()
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = loss_of(model(x), y)
            loss.backward()
            opt.step()
            if step >= warmup:
                seen += len(y)
            step += 1
            if step == warmup + steps:
                break
        return seen / (time.perf_counter() - t0)

    # An expert measures before choosing bf16: without native bf16 it is emulated, many times slower.
    probe = {}
    if tuned:
        probe = {name: train(max(20, args.steps // 10), name == "bf16") for name in ("fp32", "bf16")}
    bf16 = tuned and probe["bf16"] > probe["fp32"]
    train_ips = train(args.steps, bf16)

    model.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        t = test.contiguous(memory_format=fmt)
        model(t[:1000])
        t0 = time.perf_counter()
        for _ in range(2):
            for s in range(0, len(t), 1000):
                model(t[s : s + 1000])
        infer_ips = 2 * len(t) / (time.perf_counter() - t0)
        times = []
        for i in range(1050):
            one = t[i : i + 1]
            s = time.perf_counter()
            model(one)
            if i >= 50:
                times.append(1e6 * (time.perf_counter() - s))
    times.sort()
    print(
        json.dumps(
            {
                "mode": args.mode,
                "model": args.model,
                "parameters": sum(p.numel() for p in model.parameters()),
                "torch": torch.__version__,
                "precision": "bf16" if bf16 else "fp32",
                "precision_probe_images_per_second": probe,
                "threads": args.threads,
                "train_images_per_second": train_ips,
                "infer_images_per_second": infer_ips,
                "latency_median_us": statistics.median(times),
                "latency_p90_us": times[len(times) * 9 // 10],
            }
        )
    )


if __name__ == "__main__":
    main()

"""Train Marrow-Find's ResNet50 from random weights on a CUDA GPU with PyTorch.

For a lent GPU machine that has PyTorch, OpenCV and scikit-image but no TensorFlow (and no
internet, so no ImageNet weights). Preprocessing and augmentation are the engine's own
(`load_image_folder`: CLAHE + resize; `augment_image`: geometry, colour, HED stain jitter), so the
network sees exactly what the product's Keras training would show it. Two recipes train side by
side on the same batches (AdamW and SGD with Nesterov momentum, each with an exponential moving
average of its weights); after every epoch each of the four is scored on val (accuracy, then log
loss, as `training._score`), and the best state comes back as float16 NumPy arrays keyed by Keras
layer name. `python manage.py import_torch_classifier` then builds the product's artifact.

The number of epochs is fitted to the time box after two timed epochs, so the cosine schedule
always finishes; that number, the measured epoch time and every per-epoch score are in
summary.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from torch_resnet50 import KerasResNet50Classifier  # noqa: E402

from inference.engine.augment import AugmentConfig, augment_image  # noqa: E402
from inference.engine.datasets import load_image_folder  # noqa: E402

HEAD_L2 = 0.01  # the Keras head's kernel_regularizer on "features"
WARMUP_EPOCHS = 5
PART_BYTES = 14_000_000  # files that come back from the GPU machine are limited to 16 MiB each
FLOAT16_MAX = 60_000.0


class AugmentedImages(torch.utils.data.Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels, self.config = images, labels, AugmentConfig()
        self.rng = np.random.default_rng(0)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return augment_image(self.images[index], self.rng, self.config), int(self.labels[index])


def _seed_worker(_worker_id: int) -> None:
    # Each worker's stream follows from torch's seed, so a run with the same seed and worker
    # count draws the same augmentations.
    info = torch.utils.data.get_worker_info()
    assert info is not None  # called in a worker only
    dataset = cast(AugmentedImages, info.dataset)
    dataset.rng = np.random.default_rng(torch.initial_seed() % 2**63)


def _to_input(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    x = batch.to(device, non_blocking=True).permute(0, 3, 1, 2).float()
    return x.contiguous(memory_format=torch.channels_last)


class Recipe:
    def __init__(
        self, name: str, model: KerasResNet50Classifier, base_lr: float, weight_decay: float
    ) -> None:
        self.name, self.model, self.base_lr = name, model, base_lr
        decay = [p for n, p in model.named_parameters() if n.endswith("weight") and p.ndim > 1]
        other = [p for n, p in model.named_parameters() if not (n.endswith("weight") and p.ndim > 1)]
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}]
        if name == "sgd":
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(
                groups, lr=base_lr, momentum=0.9, nesterov=True
            )
        else:
            self.optimizer = torch.optim.AdamW(groups, lr=base_lr)
        self.ema = copy.deepcopy(model).eval()
        self.steps = 0

    def set_lr(self, epoch: int, total_epochs: int) -> float:
        if epoch < WARMUP_EPOCHS:
            lr = self.base_lr * (epoch + 1) / (WARMUP_EPOCHS + 1)
        else:
            progress = (epoch - WARMUP_EPOCHS) / max(1, total_epochs - WARMUP_EPOCHS - 1)
            lr = 0.5 * self.base_lr * (1 + math.cos(math.pi * min(1.0, progress)))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def step(
        self, x: torch.Tensor, y: torch.Tensor, class_weights: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimisation step; (loss, correct) stay on the device so the GPU is never waited for."""
        self.model.train()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=x.is_cuda):
            logits = self.model(x)
        losses = F.cross_entropy(logits.float(), y, reduction="none")
        loss = (losses * class_weights[y]).mean()
        total = loss + HEAD_L2 * self.model.head_kernel().pow(2).sum()
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        self.steps += 1
        self._update_ema()
        return loss.detach(), (logits.argmax(1) == y).sum()

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = min(0.998, (1 + self.steps) / (10 + self.steps))
        for ema, live in zip(self.ema.state_dict().values(), self.model.state_dict().values(), strict=True):
            if ema.dtype.is_floating_point:
                ema.lerp_(live, 1 - decay)
            else:
                ema.copy_(live)


@torch.no_grad()
def predict_logits(model: torch.nn.Module, images: torch.Tensor, device: torch.device) -> np.ndarray:
    model.eval()
    out = []
    for start in range(0, len(images), 256):
        x = _to_input(images[start : start + 256], device)
        out.append(model(x).float().cpu())
    return torch.cat(out).numpy()


def score(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    shifted = logits - logits.max(1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return {
        "accuracy": float((logits.argmax(1) == labels).mean()),
        "log_loss": float(-log_probs[np.arange(len(labels)), labels].mean()),
    }


def save_state(state: dict[str, torch.Tensor], out: Path) -> list[str]:
    """float16 `.npz` parts under the size limit; a tensor too large for float16 stays float32."""
    arrays = {}
    for key, tensor in state.items():
        array = tensor.detach().float().cpu().numpy()
        arrays[key] = array if np.abs(array).max(initial=0) > FLOAT16_MAX else array.astype(np.float16)
    parts: list[dict[str, np.ndarray]] = [{}]
    size = 0
    for key, array in arrays.items():
        if size + array.nbytes > PART_BYTES and parts[-1]:
            parts.append({})
            size = 0
        parts[-1][key] = array
        size += array.nbytes
    names = []
    for index, part in enumerate(parts):
        name = f"weights_part{index}.npz"
        np.savez(out / name, **part)  # type: ignore[arg-type]
        names.append(name)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--minutes", type=float, default=6.0, help="time box for training")
    parser.add_argument("--max-epochs", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--every", type=int, default=1, help="keep every n-th image (smoke tests)")
    args = parser.parse_args()
    started = time.monotonic()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.backends.cudnn.benchmark = True
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    train = load_image_folder(args.data, every=args.every)
    val = load_image_folder(args.val, every=args.every)
    counts = np.bincount(train.labels, minlength=len(train.classes))
    class_weights = torch.tensor(len(train) / (len(counts) * counts), dtype=torch.float32, device=device)
    print(f"loaded {len(train)} train / {len(val)} val in {time.monotonic() - started:.1f} s", flush=True)

    loader = torch.utils.data.DataLoader(
        AugmentedImages(train.images, train.labels),
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
        worker_init_fn=_seed_worker,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(args.seed),
    )
    val_images = torch.from_numpy(val.images)
    recipes = []
    for index, (name, lr, decay) in enumerate((("adamw", 1e-3, 0.05), ("sgd", 0.05, 5e-4))):
        torch.manual_seed(args.seed + index)
        model = cast(Any, KerasResNet50Classifier(len(train.classes))).to(
            device, memory_format=torch.channels_last
        )
        recipes.append(Recipe(name, model, lr, decay))

    budget_s = args.minutes * 60
    total_epochs = args.max_epochs
    best: dict[str, object] = {"score": (-1.0, -math.inf)}
    history = []
    train_started = time.monotonic()
    epoch = 0
    while epoch < total_epochs:
        lrs = {recipe.name: recipe.set_lr(epoch, total_epochs) for recipe in recipes}
        sums = {
            recipe.name: [torch.zeros((), device=device), torch.zeros((), device=device)]
            for recipe in recipes
        }
        seen = 0
        for images, labels in loader:
            x, y = _to_input(images, device), labels.to(device, non_blocking=True)
            for recipe in recipes:
                loss, correct = recipe.step(x, y, class_weights)
                sums[recipe.name][0] += loss * len(y)
                sums[recipe.name][1] += correct
            seen += len(y)
        record: dict[str, object] = {"epoch": epoch + 1, "lr": lrs}
        for recipe in recipes:
            loss_sum, correct_sum = (float(value) for value in sums[recipe.name])
            record[f"{recipe.name}_train"] = {"loss": loss_sum / seen, "accuracy": correct_sum / seen}
            for label, model in ((recipe.name, recipe.model), (f"{recipe.name}_ema", recipe.ema)):
                metrics = score(predict_logits(model, val_images, device), val.labels)
                record[label] = metrics
                key = (round(metrics["accuracy"], 6), -metrics["log_loss"])
                if key > best["score"]:  # type: ignore[operator]
                    best = {"score": key, "candidate": label, "epoch": epoch + 1, **metrics}
                    best_state = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
        elapsed = time.monotonic() - train_started
        record["elapsed_s"] = round(elapsed, 1)
        history.append(record)
        epoch += 1
        if epoch == 1:
            first_epoch_s = elapsed
        if epoch == 2:
            # Fit the schedule to the time box from the second epoch's pace (the first one pays for
            # cuDNN's autotuning and the workers' start).
            per_epoch = elapsed - first_epoch_s
            remaining_s = budget_s - elapsed
            total_epochs = min(args.max_epochs, max(WARMUP_EPOCHS + 2, 2 + int(remaining_s / per_epoch)))
            print(f"{per_epoch:.2f} s per epoch: {total_epochs} epochs", flush=True)
        brief = " ".join(
            f"{r.name} {record[r.name]['accuracy']:.4f}/{record[r.name + '_ema']['accuracy']:.4f}"  # type: ignore[index]
            for r in recipes
        )
        print(
            f"epoch {epoch}/{total_epochs} {elapsed:.0f}s val acc {brief} best {best['candidate']}@"
            f"{best['epoch']} {best['accuracy']:.4f}",
            flush=True,
        )
        if elapsed > budget_s * 1.1:
            print("time box overrun: stopping", flush=True)
            break

    final = KerasResNet50Classifier(len(train.classes))
    final.load_state_dict(best_state)
    final = final.to(device)
    logits = predict_logits(final, val_images, device)
    np.savez(
        out / "val_logits.npz",
        logits=logits,
        labels=val.labels,
        files=np.array([str(p.name) for p in val.paths]),
    )
    parts = save_state(best_state, out)
    summary = {
        "best": {k: v for k, v in best.items() if k != "score"},
        "val_fp32": score(logits, val.labels),
        "epochs_planned": total_epochs,
        "epochs_run": epoch,
        "seconds_per_epoch": round(elapsed / epoch, 3),
        "train_seconds": round(elapsed, 1),
        "weights_parts": parts,
        "classes": list(train.classes),
        "train_count": len(train),
        "val_count": len(val),
        "args": vars(args),
        "recipes": {
            "adamw": {"lr": 1e-3, "weight_decay": 0.05},
            "sgd": {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
        },
        "warmup_epochs": WARMUP_EPOCHS,
        "schedule": "linear warm-up, then cosine to 0 over the fitted epoch count",
        "ema_decay": 0.998,
        "precision": "bfloat16 autocast, float32 weights",
        "augment": AugmentConfig().to_dict(),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "history": history,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(
        json.dumps({k: summary[k] for k in ("best", "val_fp32", "epochs_run", "seconds_per_epoch")}),
        flush=True,
    )


if __name__ == "__main__":
    main()

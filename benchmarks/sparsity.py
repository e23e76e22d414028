"""Connection pruning: accuracy after the same fine-tune budget, artifact sizes, and dense vs sparse latency.

accuracy  the default model on mnist5k (cached 12-epoch baseline): dense, then 80% unstructured, 2:4, 80% 1x4
          and 80% 4x1, each fine-tuned with the same budget (FinetuneConfig(epochs=6), distillation from the
          unpruned model; selection on the select split, accuracy on val), for seeds 0..N-1. The dense row gets
          the same fine-tune. Seed 0's models are exported to TFLite fp32 / int8, each dense-stored and in the
          sparse encoding (DENSIFY), all parity-verified on ai-edge-litert; sizes and gzip sizes are recorded.
latency   a mobilenet_v2 (torchvision, 224x224x3, random weights: latency does not depend on values) whose 1x1
          convs get 70 / 80 / 90% 4x1 block sparsity (4 output channels x 1 input, XNNPACK's sparse block),
          exported in the sparse encoding; dense and the three sparse files measured interleaved in one runner
          process per thread count (1, 2) with edgeprune.bench.harness.measure_local; plus int8 dense vs int8
          sparse at 80%, with XNNPACK and with TFLite's builtin kernels only.
Writes build/bench/sparsity_accuracy.json, build/bench/sparsity_latency.json and prints markdown tables.
Usage: PYTHONPATH=src python benchmarks/sparsity.py [--part accuracy|latency|all] [--seeds 3] [--runs 200]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

os.environ.setdefault("EDGEPRUNE_NO_PROGRESS", "1")

from edgeprune.atomic import write_json
from edgeprune.baseline import load_baseline
from edgeprune.bench.harness import Protocol, measure_local
from edgeprune.config import FinetuneConfig
from edgeprune.data import load_data, take
from edgeprune.export import export_model
from edgeprune.finetune import evaluate, fit
from edgeprune.sparsity import GradualSparsity, SparsityOptions, fit_steps, overall, sparsity_of
from edgeprune.versions import versions

OUT = Path("build/bench")
VARIANTS: dict[str, SparsityOptions | None] = {
    "dense": None,
    "80% unstructured": SparsityOptions(0.8),
    "2:4": SparsityOptions(pattern="2:4"),
    "80% 1x4": SparsityOptions(0.8, pattern="1x4"),
    "80% 4x1": SparsityOptions(0.8, pattern="4x1"),
}
EXPORTED = ("dense", "80% unstructured", "2:4")
LEVELS = (0.7, 0.8, 0.9)


def _artifacts(model: nn.Module, data, folder: Path, tag: str) -> list[dict]:
    """fp32 and int8, dense-stored and sparse-encoded, each verified by export_model; sizes recorded."""
    rows = []
    x, y = take(data.val, 200)
    for precision in ("fp32", "int8"):
        for sparse in (False, True):
            extra = {"labels": y, "calibration": take(data.select, 200)[0]} if precision == "int8" else {}
            path = folder / f"{tag}-{precision}{'-sparse' if sparse else ''}.tflite"
            art = export_model(model, x[:1], path, "tflite", precision, samples=x, sparse=sparse, force=True, **extra)
            meta = art.metadata
            rows.append(
                {
                    "model": tag,
                    "precision": precision,
                    "encoding": "sparse (DENSIFY)" if sparse else "dense",
                    "size_bytes": meta["size_bytes"],
                    "gzip_size_bytes": meta["gzip_size_bytes"],
                    "rel_err": meta["verification"]["rel_err"],
                    "top1_agreement": meta["verification"]["top1_agreement"],
                    "encoded_tensors": len((meta["options"].get("sparse_weights") or {}).get("encoded", [])),
                }
            )
    return rows


def accuracy_part(seeds: int, epochs: int, out: Path) -> dict:
    data = load_data("mnist5k")
    base = load_baseline("edgeprune:default", data, train_epochs=12).model
    base_acc = evaluate(base, data.val)[0]
    rows, sizes = [], []
    folder = out / "sparsity_artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    for seed in range(seeds):
        cfg = FinetuneConfig(epochs=epochs, seed=seed)
        steps = fit_steps(len(data.train), cfg.batch_size, cfg.epochs, cfg.steps)
        for name, options in VARIANTS.items():
            model = copy.deepcopy(base)
            callback = GradualSparsity(model, options, steps) if options is not None else None
            start = time.perf_counter()
            result = fit(model, data, cfg, teacher=copy.deepcopy(base), callback=callback, description=name)
            acc = evaluate(model, data.val)[0]
            layers = callback.layers if callback is not None else None
            row = {
                "seed": seed,
                "variant": name,
                "val_acc": round(acc, 2),
                "best_epoch": result.best_epoch,
                "sparsity_sparsified_layers": round(overall(sparsity_of(model, layers)), 4),
                "sparsity_all_weights": round(overall(sparsity_of(model)), 4),
                "dense_layers": dict(callback.dense) if callback is not None else {},
                "seconds": round(time.perf_counter() - start, 1),
            }
            rows.append(row)
            print(f"seed {seed} {name:<18} val {acc:.2f}%  zeros {row['sparsity_all_weights']:.3f}", flush=True)
            if seed == 0 and name in EXPORTED:
                sizes += _artifacts(model, data, folder, name.replace("% ", "").replace(":", "of"))
    result = {
        "model": "edgeprune:default",
        "dataset": data.describe(),
        "baseline_val_acc": round(base_acc, 2),
        "finetune": FinetuneConfig(epochs=epochs).__dict__,
        "rows": rows,
        "artifacts": sizes,
        "versions": versions(),
    }
    write_json(out / "sparsity_accuracy.json", result)
    return result


def mobilenet(sparsity: float | None) -> nn.Module:
    """torchvision mobilenet_v2 (seeded random weights) with ``sparsity`` 4x1 blocks in its 1x1 convs.

    BatchNorm statistics are then measured on random inputs, so every layer's activations keep unit scale
    (with init-time statistics they shrink layer after layer, and tiny floats could slow some kernels).
    """
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v2(weights=None).eval()
    if sparsity is not None:
        pointwise = tuple(
            n
            for n, m in model.named_modules()
            if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.groups == 1
        )
        options = SparsityOptions(sparsity, pattern="4x1", layers=pointwise, ramp=(0.0, 0.0))
        GradualSparsity(model, options, total_steps=1).on_fit_end(model)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.randn(8, 3, 224, 224))
    return model.eval()


def latency_part(runs: int, out: Path) -> dict:
    x = torch.randn(4, 3, 224, 224)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="edgeprune-sparsity-") as tmp:
        folder = Path(tmp)
        files: dict[str, Path] = {}
        files["dense fp32"] = export_model(mobilenet(None), x[:1], folder / "dense.tflite", "tflite", samples=x).path
        for level in LEVELS:
            model = mobilenet(level)
            name = f"{level:.0%} 4x1 fp32 sparse"
            art = export_model(model, x[:1], folder / f"s{level}.tflite", "tflite", samples=x, sparse=True)
            files[name] = art.path
            if level == 0.8:
                calib = {"calibration": torch.randn(16, 3, 224, 224)}
                files["80% 4x1 int8 dense"] = _int8(model, x, folder / "q80.tflite", False, calib)
                files["80% 4x1 int8 sparse"] = _int8(model, x, folder / "q80s.tflite", True, calib)
                int8_diff = _same_outputs(files["80% 4x1 int8 dense"], files["80% 4x1 int8 sparse"], x)
                if int8_diff > 0:
                    raise SystemExit(f"int8 sparse and dense files disagree (max |diff| {int8_diff})")
        from edgeprune.export.metadata import gzip_size

        sizes = {k: {"size_bytes": p.stat().st_size, "gzip_size_bytes": gzip_size(p)} for k, p in files.items()}
        int8 = [k for k in files if "int8" in k]
        # (group, artifacts, XNNPACK on?): the int8 convs behind DENSIFY leave XNNPACK for TFLite's builtin
        # kernels, so the int8 pair is also timed with builtin kernels only, to tell kernels from zeros
        groups = [
            ("fp32", [k for k in files if "fp32" in k], True),
            ("int8", int8, True),
            ("int8 builtin", int8, False),
        ]
        for threads in (1, 2):
            for group, names, xnnpack in groups:
                protocol = Protocol(threads=threads, warmup=20, runs=runs, xnnpack=xnnpack)
                measured = measure_local([files[n] for n in names], protocol)
                ref = measured["results"][0]["latency_ms"]["p50"]
                for n, res in zip(names, measured["results"], strict=True):
                    p50 = res["latency_ms"]["p50"]
                    rows.append(
                        {
                            "group": group,
                            "xnnpack": xnnpack,
                            "artifact": n,
                            "threads": threads,
                            "p50_ms": round(p50, 3),
                            "p90_ms": round(res["latency_ms"]["p90"], 3),
                            "ratio_to_first": round(p50 / ref, 3),
                            "load_ms": round(res["load_ms"], 1),
                            **sizes[n],
                        }
                    )
                    print(f"{threads}t {group:<12} {n:<24} p50 {p50:.3f} ms  x{p50 / ref:.3f}", flush=True)
    result = {
        "model": "torchvision mobilenet_v2 224x224x3, 1x1 convs block-sparse (4x1)",
        "runtime": "ai-edge-litert (XNNPACK delegate, default)",
        "runs": runs,
        "int8_sparse_vs_dense_max_abs_diff": 0.0,
        "rows": rows,
        "versions": versions(),
    }
    write_json(out / "sparsity_latency.json", result)
    return result


def _int8(model: nn.Module, x: torch.Tensor, path: Path, sparse: bool, calib: dict) -> Path:
    """int8 file for timing only: a random-weight model's top-1 is noise, so the accuracy check is not run
    (the sparse file is checked against the dense one instead: both hold the same int8 weights)."""
    from edgeprune.export.tflite import export

    return export(model.eval(), x[:1], path, "int8", sparse=sparse, **calib).path


def _same_outputs(a: Path, b: Path, x: torch.Tensor) -> float:
    """Max |a(x) - b(x)| of two artifacts on the real runtime."""
    from edgeprune.export import load_artifact

    return float(abs(load_artifact(a).run_batch(x.numpy()) - load_artifact(b).run_batch(x.numpy())).max())


def markdown_accuracy(res: dict) -> str:
    lines = [f"baseline (12 epochs, no fine-tune): val {res['baseline_val_acc']:.2f}%", ""]
    lines += ["| variant | zeros (all weights) | val acc per seed | mean | vs dense |", "|---|---|---|---|---|"]
    by: dict[str, list[dict]] = {}
    for r in res["rows"]:
        by.setdefault(r["variant"], []).append(r)
    dense_mean = sum(r["val_acc"] for r in by["dense"]) / len(by["dense"])
    for name, rs in by.items():
        mean = sum(r["val_acc"] for r in rs) / len(rs)
        accs = ", ".join(f"{r['val_acc']:.2f}" for r in rs)
        lines.append(
            f"| {name} | {rs[0]['sparsity_all_weights']:.1%} | {accs} | {mean:.2f} | {mean - dense_mean:+.2f} |"
        )
    lines += [
        "",
        "| model | precision | encoding | size KiB | gzip KiB | gzip vs dense fp32 |",
        "|---|---|---|---|---|---|",
    ]
    ref = next(
        a for a in res["artifacts"] if a["model"] == "dense" and a["precision"] == "fp32" and a["encoding"] == "dense"
    )
    for a in res["artifacts"]:
        lines.append(
            f"| {a['model']} | {a['precision']} | {a['encoding']} | {a['size_bytes'] / 1024:.1f} |"
            f" {a['gzip_size_bytes'] / 1024:.1f} | {a['gzip_size_bytes'] / ref['gzip_size_bytes']:.2f}x |"
        )
    return "\n".join(lines)


def markdown_latency(res: dict) -> str:
    lines = [
        "| group | artifact | threads | p50 ms | vs first of its group | size KiB | gzip KiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['group']} | {r['artifact']} | {r['threads']} | {r['p50_ms']:.3f} | {r['ratio_to_first']:.3f}x |"
            f" {r['size_bytes'] / 1024:.0f} | {r['gzip_size_bytes'] / 1024:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("accuracy", "latency", "all"), default="all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6, help="fine-tune epochs, the same for every variant")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per artifact (latency)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for training")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if args.part in ("accuracy", "all"):
        print(markdown_accuracy(accuracy_part(args.seeds, args.epochs, out)))
    if args.part in ("latency", "all"):
        print(markdown_latency(latency_part(args.runs, out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

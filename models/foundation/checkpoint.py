"""In-repo checkpoints: config.json + vocab.json + model.pt, with sha256 checked before every load."""

import json
from pathlib import Path

import torch

from benchmark.checksums import sha256_file
from benchmark.errors import ContractError
from benchmark.io import atomic_write, write_json
from models.foundation.architectures import FoundationModel
from models.foundation.tokenizers import Tokenizer, tokenizer_from_settings
from models.foundation.transformer import EncoderConfig
from models.foundation.vocabulary import Vocabulary

FILES = ("config.json", "vocab.json", "model.pt")


def save_checkpoint(directory: str | Path, model: FoundationModel, tokenizer: Tokenizer, config: dict) -> None:
    """Write the model, its tokenizer and config, then a manifest of sha256 sums (written last)."""
    directory = Path(directory)
    write_json({**config, "tokenizer": tokenizer.settings()}, directory / "config.json")
    write_json(tokenizer.vocabulary.to_dict(), directory / "vocab.json")
    atomic_write(directory / "model.pt", lambda tmp: torch.save(model.state_dict(), tmp))
    write_json({name: sha256_file(directory / name) for name in FILES}, directory / "manifest.json")


def load_checkpoint(directory: str | Path, device: str = "cpu") -> tuple[FoundationModel, Tokenizer, dict]:
    """Verify the manifest, then rebuild the model (weights_only load) and its tokenizer."""
    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        raise ContractError(
            f"checkpoint {directory}: manifest.json is missing; the checkpoint is incomplete: pretrain again"
        )
    manifest = json.loads(manifest_path.read_text())
    for name in FILES:
        actual = sha256_file(directory / name) if (directory / name).exists() else "missing"
        if actual != manifest.get(name):
            raise ContractError(
                f"checkpoint {directory}: {name} has sha256 {actual} but the manifest records {manifest.get(name)}; "
                "the file is corrupt or was changed: delete the folder and pretrain again"
            )
    config = json.loads((directory / "config.json").read_text())
    vocabulary = Vocabulary.from_dict(json.loads((directory / "vocab.json").read_text()))
    tokenizer = tokenizer_from_settings(vocabulary, config["tokenizer"])
    model = build_model(config, tokenizer)
    model.load_state_dict(torch.load(directory / "model.pt", map_location=device, weights_only=True))
    return model.to(device).eval(), tokenizer, config


def build_model(config: dict, tokenizer: Tokenizer) -> FoundationModel:
    n_tokens = getattr(tokenizer, "n_tokens", len(tokenizer.vocabulary))
    return FoundationModel(
        config["family"], EncoderConfig(**config["encoder"]), n_tokens, len(tokenizer.vocabulary.genes),
        tokenizer.pad_id, config["max_positions"],
    )  # fmt: skip

"""Small-scale pretraining of an in-repo scFM: seeded, resumable, deterministic on CPU.

AdamW with linear warm-up then linear decay, gradient clipping at 1, bf16 autocast on GPU. Every
``checkpoint_every`` steps the full training state goes to ``progress_dir/state.pt``; a rerun after an
interruption resumes from it and follows the same loss curve (batch order and masks derive from the
seed and the step number only). The finished model is written with ``save_checkpoint``.

A seeded ``heldout_fraction`` of the corpus cells is never trained on: the pretraining check
(``models/foundation/heldout.py``) scores masked prediction on them before and after training. With
``random_init`` (the random-init twins) nothing is trained: the checkpoint holds the seeded initial weights.
"""

import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from benchmark.io import atomic_write
from models.foundation.architectures import FoundationModel
from models.foundation.checkpoint import build_model, save_checkpoint
from models.foundation.corpus import Corpus
from models.foundation.families import family_of
from models.foundation.heldout import heldout_check, heldout_split
from models.foundation.masking import masked_loss
from models.foundation.tokenizers import TokenBatch, Tokenizer
from models.foundation.transformer import EncoderConfig
from models.foundation.vocabulary import Vocabulary

log = logging.getLogger(__name__)
ENCODER_KEYS = ("hidden", "layers", "heads", "ffn", "norm", "activation", "dropout", "eps", "final_norm")


def make_tokenizer(family: str, corpus: Corpus, params: dict) -> Tokenizer:
    """The family's tokenizer over the corpus genes."""
    return family_of(family).tokenizer(Vocabulary.build(corpus.genes), corpus, params)


def model_config(family: str, params: dict, tokenizer: Tokenizer) -> dict:
    encoder = {k: params[k] for k in ENCODER_KEYS if k in params}
    return {"family": family, "encoder": EncoderConfig(**encoder).to_dict(), "max_positions": tokenizer.context + 1}


def batch_of(tokenizer: Tokenizer, corpus: Corpus, cells: np.ndarray, seed: int, step: int) -> TokenBatch:
    rng = np.random.default_rng([seed, step, 1])
    dense = np.asarray(corpus.counts[cells].todense(), dtype=np.float64)
    return tokenizer.collate([tokenizer.cell(dense[i], corpus.totals[c], rng) for i, c in enumerate(cells)])


def cells_for_step(cells: np.ndarray, batch_size: int, seed: int, step: int) -> np.ndarray:
    """The cells of one step out of ``cells``: epoch-wise seeded permutations, so the order depends on
    (seed, step) only."""
    per_epoch = max(len(cells) // batch_size, 1)
    epoch, position = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch, 0]).permutation(len(cells))
    return np.sort(cells[order[position * batch_size : (position + 1) * batch_size]])


def _schedule(warmup: int, steps: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(steps - warmup, 1))

    return factor


def pretrain(
    family: str,
    corpus: Corpus,
    params: dict,
    seed: int,
    output_dir: str | Path,
    progress_dir: str | Path,
    device: str = "cpu",
    stop_after: int | None = None,
) -> dict:
    """Train ``params["steps"]`` steps (resuming from ``progress_dir``) and save the final checkpoint.

    ``stop_after`` ends the run early after that many steps in this call (tests of resume use it).
    Returns the run summary written into the checkpoint's config.
    """
    torch.manual_seed(seed)
    if device == "cpu":
        torch.use_deterministic_algorithms(True)
    tokenizer = make_tokenizer(family, corpus, params)
    config = model_config(family, params, tokenizer)
    model: FoundationModel = build_model(config, tokenizer).to(device)
    steps = 0 if params.get("random_init") else int(params["steps"])
    batch_size = int(params["batch_size"])
    rate = float(params["mask_rate"]) if params.get("mask_rate") is not None else None  # None: the family's
    train, heldout = heldout_split(corpus.n_cells, float(params.get("heldout_fraction", 0.1)), seed)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=float(params["lr"]), weight_decay=float(params.get("weight_decay", 0.01))
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(int(params["warmup"]), steps))
    state_path = Path(progress_dir) / "state.pt"
    start, losses, norms, elapsed, cpu = 0, [], [], 0.0, 0.0

    def check() -> dict | None:
        return (
            heldout_check(model, tokenizer, corpus, train, heldout, seed, device, rate=rate) if len(heldout) else None
        )

    if state_path.exists():
        state = torch.load(state_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, losses, norms = int(state["step"]), list(state["losses"]), list(state["grad_norms"])
        elapsed, cpu, initial = float(state["elapsed"]), float(state["cpu_seconds"]), state["initial_check"]
        log.info("resuming %s pretraining at step %d of %d", family, start, steps)
    else:
        initial = check()
    every = int(params.get("checkpoint_every", 50))
    began, began_cpu = time.perf_counter(), time.process_time()
    model.train()
    progress = tqdm(range(start, steps), desc=f"pretrain {family}", initial=start, total=steps)
    for step in progress:
        batch = batch_of(tokenizer, corpus, cells_for_step(train, batch_size, seed, step), seed, step).to(device)
        torch.manual_seed(seed * 1_000_003 + step)  # dropout: a function of the step, so resuming is exact
        generator = torch.Generator(device=device).manual_seed(seed * 1_000_003 + step)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = masked_loss(model, batch, generator, mask_id=tokenizer.mask_id, rate=rate)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)))
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        progress.set_postfix(loss=f"{losses[-1]:.4f}")
        done = step + 1
        if done % every == 0 or done == steps or (stop_after is not None and done - start >= stop_after):
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "step": done, "losses": losses, "grad_norms": norms,
                     "elapsed": elapsed + time.perf_counter() - began,
                     "cpu_seconds": cpu + time.process_time() - began_cpu, "initial_check": initial}  # fmt: skip
            atomic_write(state_path, lambda tmp, s=state: torch.save(s, tmp))
        if stop_after is not None and done - start >= stop_after:
            return {"stopped_at": done, "losses": losses}
    seconds, cpu = elapsed + time.perf_counter() - began, cpu + time.process_time() - began_cpu
    summary = {
        **config, "pretraining": {k: v for k, v in params.items()}, "seed": seed, "steps": steps,
        "final_loss": float(np.mean(losses[-10:])) if losses else None, "losses": losses, "grad_norms": norms,
        "seconds": seconds, "cpu_seconds": cpu, "steps_per_second": steps / seconds if steps and seconds else None,
        "corpus_cells": corpus.n_cells, "train_cells": int(len(train)),
        "check": {"initial": initial, "final": check() if steps else initial},
    }  # fmt: skip
    model.eval()
    save_checkpoint(output_dir, model, tokenizer, summary)
    return summary

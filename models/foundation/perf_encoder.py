"""Our transformer encoder vs Hugging Face BertModel: equal hidden states and gradients, relative speed.

    python -m models.foundation.perf_encoder [--preset geneformer-v1 | small] [--device cuda] [--threads N]
    python -m models.foundation.perf_encoder --layers 6 --hidden 256 --heads 4 --length 2048 --batch 8

Builds a random BertModel, copies its weights into our Geneformer-family model with the explicit
key map, checks every layer's hidden states and, after one backward pass of the same loss, every
parameter's gradient (both within 1e-5 of the largest), then times inference and a training step
(forward + backward) of both on the same padded batch (one cell per row, lengths uniform in
[length/2, length]). Repeats alternate ours and theirs, so a change of machine load hits both; it
prints the median wall time, the median CPU time of the process (steadier on a busy machine) and
the ratios (BertModel time / ours: above 1 means ours is faster). Presets: ``geneformer-v1`` (6 layers,
d=256, 4 heads, ffn 512, 2,048 tokens, batch 12: the published V1 size) and ``small`` (this suite's
default pretraining: 2 layers, d=64, ffn 128, 256 tokens, batch 16). ``--bf16`` (GPU) runs both under
bfloat16 autocast (equality is then not checked). With ReLU, a pre-activation within rounding of
0 can switch sides between the two models; each such flip moves that unit's gradient by one token's
share, which on large batches exceeds the tolerance (Geneformer-V1 size: ~1e-2 in ``ffn_in``):
compare gradients there with ``--activation gelu``.
"""

import argparse
import statistics
import time

import torch

from models.foundation.architectures import FoundationModel
from models.foundation.hf_bert import convert_bert_state
from models.foundation.tokenizers import TokenBatch
from models.foundation.transformer import EncoderConfig

PRESETS = {
    "geneformer-v1": {"layers": 6, "hidden": 256, "heads": 4, "ffn": 512, "length": 2048, "batch": 12},
    "small": {"layers": 2, "hidden": 64, "heads": 4, "ffn": 128, "length": 256, "batch": 16},
}
TOLERANCE = 1e-5


def build(args: argparse.Namespace):
    from transformers import BertConfig, BertModel

    hf_config = BertConfig(vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers,
                           num_attention_heads=args.heads, intermediate_size=args.ffn, hidden_act=args.activation,
                           max_position_embeddings=args.length, layer_norm_eps=1e-12, hidden_dropout_prob=0.0,
                           attention_probs_dropout_prob=0.0, pad_token_id=0, attn_implementation="sdpa")  # fmt: skip
    torch.manual_seed(0)
    theirs = BertModel(hf_config, add_pooling_layer=False)
    encoder = EncoderConfig(hidden=args.hidden, layers=args.layers, heads=args.heads, ffn=args.ffn,
                            activation=args.activation)  # fmt: skip
    ours = FoundationModel("geneformer", encoder, args.vocab, args.vocab - 3, 0, args.length)
    converted = convert_bert_state(theirs.state_dict(), args.layers, prefix="", with_head=False, source="BertModel")
    missing, _ = ours.load_state_dict(converted, strict=False)
    assert all(k.startswith("head.") for k in missing), missing
    return theirs.to(args.device), ours.to(args.device)


def batch_for(args: argparse.Namespace) -> TokenBatch:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(3, args.vocab, (args.batch, args.length), generator=generator)
    lengths = torch.randint(args.length // 2, args.length + 1, (args.batch,), generator=generator)
    keep = torch.arange(args.length)[None] < lengths[:, None]
    ids[~keep] = 0
    zeros = torch.zeros_like(ids)
    return TokenBatch(ids, zeros, zeros.float(), keep, torch.zeros_like(keep)).to(args.device)


def loss_of(states: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """A loss over the real tokens of the last hidden states: their projection on a fixed random
    direction (zero at padding, whose rows differ by design; a plain sum of squares of LayerNorm
    outputs would be nearly constant and leave no gradient to compare)."""
    return (states.float() * direction).sum() / direction.shape[-1]


def direction_for(batch: TokenBatch, hidden: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(2)
    weights = torch.randn(*batch.keep.shape, hidden, generator=generator)
    return (weights * batch.keep[..., None]).to(batch.keep.device)


def differences(theirs, ours, batch: TokenBatch, layers: int) -> tuple[float, float]:
    """Largest |hidden state difference| (non-padding) and largest |gradient difference|, each relative
    to the largest value it compares."""
    reference = theirs(input_ids=batch.ids, attention_mask=batch.keep.long(), output_hidden_states=True)
    states = ours.hidden_states(batch)
    keep = batch.keep[..., None]
    hidden = max(
        float(((a - b) * keep).abs().max()) / float((a * keep).abs().max())
        for a, b in zip((s.detach() for s in reference.hidden_states), (s.detach() for s in states), strict=True)
    )
    direction = direction_for(batch, states[-1].shape[-1])
    theirs.zero_grad(), ours.zero_grad()
    loss_of(reference.last_hidden_state, direction).backward()
    loss_of(states[-1], direction).backward()
    grads = {name: p.grad for name, p in theirs.named_parameters() if p.grad is not None}
    expected = convert_bert_state(grads, layers, prefix="", with_head=False, source="BertModel gradients")
    mine = dict(ours.named_parameters())
    gradient = max(
        float((mine[k].grad - g).abs().max()) / max(float(g.abs().max()), 1e-30) for k, g in expected.items()
    )
    return hidden, gradient


def timings(steps: dict, repeats: int, device: str) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds of each step, the steps alternating within every repeat."""
    wall = {name: [] for name in steps}
    cpu = {name: [] for name in steps}
    for step in steps.values():
        step()  # warm-up
    for _ in range(repeats):
        for name, step in steps.items():
            if device == "cuda":
                torch.cuda.synchronize()
            started, started_cpu = time.perf_counter(), time.process_time()
            step()
            if device == "cuda":
                torch.cuda.synchronize()
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=list(PRESETS), help="sizes of a known model (overridden by the options)")
    for name in ("layers", "hidden", "heads", "ffn", "length", "batch"):
        parser.add_argument(f"--{name}", type=int)
    parser.add_argument("--vocab", type=int, default=25426)
    parser.add_argument("--activation", choices=["relu", "gelu"], default="relu",
                        help="relu (Geneformer); gelu: gradients compare without ReLU mask flips")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (GPU)")
    args = parser.parse_args()
    sizes = {"layers": 6, "hidden": 256, "heads": 4, "length": 512, "batch": 16, **PRESETS.get(args.preset, {})}
    for name, value in sizes.items():
        setattr(args, name, value if getattr(args, name) is None else getattr(args, name))
    args.ffn = args.ffn or 4 * args.hidden
    if args.threads:
        torch.set_num_threads(args.threads)
    theirs, ours = build(args)
    batch = batch_for(args)
    hidden, gradient = differences(theirs, ours, batch, args.layers)
    autocast = torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.bf16)
    mask, direction = batch.keep.long(), direction_for(batch, args.hidden)

    def infer(call):
        def step():
            with torch.no_grad(), autocast:
                call()

        return step

    def train(call):
        def step():
            with autocast:
                loss = loss_of(call(), direction)
            loss.backward()

        return step

    ours_last = lambda: ours.hidden_states(batch)[-1]  # noqa: E731
    theirs_last = lambda: theirs(input_ids=batch.ids, attention_mask=mask).last_hidden_state  # noqa: E731
    measured = {
        "inference": timings({"ours": infer(ours_last), "bert": infer(theirs_last)}, args.repeats, args.device),
        "training step": timings({"ours": train(ours_last), "bert": train(theirs_last)}, args.repeats, args.device),
    }
    tokens = int(batch.keep.sum())
    threads = torch.get_num_threads()
    print(f"device {args.device}{' bf16' if args.bf16 else ''}, {threads} threads; {args.layers} layers, "
          f"d={args.hidden}, ffn {args.ffn}, {args.heads} heads; batch {args.batch} cells x {args.length} "
          f"({tokens} real tokens); torch {torch.__version__}; median of {args.repeats}")  # fmt: skip
    print(f"max relative difference: hidden states {hidden:.1e} ({args.layers + 1} states, non-padding), "
          f"gradients {gradient:.1e} (every parameter)")  # fmt: skip
    for what, runs in measured.items():
        (mine, mine_cpu), (bert, bert_cpu) = runs["ours"], runs["bert"]
        print(f"{what:>14}: ours {args.batch / mine:,.1f} cells/s ({tokens / mine:,.0f} tokens/s), "
              f"BertModel {args.batch / bert:,.1f} cells/s; ratio {bert / mine:.2f}x wall, "
              f"{bert_cpu / mine_cpu:.2f}x CPU")  # fmt: skip
    if not args.bf16 and max(hidden, gradient) > TOLERANCE:
        raise SystemExit(f"ours differs from BertModel: hidden states {hidden:.1e}, gradients {gradient:.1e}")


if __name__ == "__main__":
    main()

"""Our transformer encoder vs Hugging Face BertModel: equal hidden states, and relative throughput.

    python -m benchmark.perf.encoder_speed [--device cuda] [--layers 6 --hidden 256 --length 512]

Builds a random BertModel, copies its weights into our Geneformer-family model with the explicit
key map, checks every layer's hidden states within 1e-5, then times inference (and one training step)
of both on the same padded batch (one cell per row) and prints cells/s, tokens/s and the ratio.
``--bf16`` (GPU) runs both under bfloat16 autocast.
"""

import argparse
import time

import torch

from models.foundation.architectures import FoundationModel
from models.foundation.hf_bert import convert_bert_state
from models.foundation.tokenizers import TokenBatch
from models.foundation.transformer import EncoderConfig


def build(args: argparse.Namespace):
    from transformers import BertConfig, BertModel

    hf_config = BertConfig(vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers,
                           num_attention_heads=args.heads, intermediate_size=4 * args.hidden, hidden_act="relu",
                           max_position_embeddings=args.length, layer_norm_eps=1e-12, hidden_dropout_prob=0.0,
                           attention_probs_dropout_prob=0.0, pad_token_id=0, attn_implementation="sdpa")  # fmt: skip
    torch.manual_seed(0)
    theirs = BertModel(hf_config, add_pooling_layer=False).eval()
    encoder = EncoderConfig(hidden=args.hidden, layers=args.layers, heads=args.heads, ffn=4 * args.hidden)
    ours = FoundationModel("geneformer", encoder, args.vocab, args.vocab - 3, 0, args.length).eval()
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


def timed(fn, repeats: int, device: str) -> float:
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in (("layers", 6), ("hidden", 256), ("heads", 4), ("length", 512), ("batch", 16),
                          ("vocab", 25426), ("repeats", 5)):  # fmt: skip
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast (GPU)")
    args = parser.parse_args()
    autocast = torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.bf16)
    theirs, ours = build(args)
    batch = batch_for(args)
    with torch.no_grad():
        reference = theirs(input_ids=batch.ids, attention_mask=batch.keep.long(), output_hidden_states=True)
        states = ours.hidden_states(batch)
    keep = batch.keep[..., None]
    difference = max(float(((a - b) * keep).abs().max()) for a, b in zip(reference.hidden_states, states, strict=True))
    tokens = int(batch.keep.sum())

    def infer_theirs():
        with torch.no_grad(), autocast:
            theirs(input_ids=batch.ids, attention_mask=batch.keep.long())

    def infer_ours():
        with torch.no_grad(), autocast:
            ours.hidden_states(batch)

    def train(model_call):
        def step():
            with autocast:
                loss = model_call().float().square().mean()
            loss.backward()

        return step

    results = {
        "inference": (timed(infer_ours, args.repeats, args.device), timed(infer_theirs, args.repeats, args.device)),
        "training step": (
            timed(train(lambda: ours.hidden_states(batch)[-1]), args.repeats, args.device),
            timed(
                train(lambda: theirs(input_ids=batch.ids, attention_mask=batch.keep.long()).last_hidden_state),
                args.repeats,
                args.device,
            ),  # fmt: skip
        ),
    }
    print(f"device {args.device}{' bf16' if args.bf16 else ''}; {args.layers} layers, d={args.hidden}, "
          f"batch {args.batch} cells x {args.length} ({tokens} real tokens); torch {torch.__version__}")  # fmt: skip
    print(f"max |hidden state difference| over {args.layers + 1} states (non-padding): {difference:.2e}")
    for what, (mine, bert) in results.items():
        ours_rate = f"{args.batch / mine:,.1f} cells/s ({tokens / mine:,.0f} tokens/s)"
        bert_rate = f"{args.batch / bert:,.1f} cells/s ({tokens / bert:,.0f} tokens/s)"
        print(f"{what:>14}: ours {ours_rate}, BertModel {bert_rate}, ratio {bert / mine:.2f}x")
    if difference > 1e-5:
        raise SystemExit(f"hidden states differ by {difference:.2e} > 1e-5")


if __name__ == "__main__":
    main()

"""One transformer encoder for every in-repo scFM (BERT-compatible post-LN, or pre-LN).

Attention uses ``torch.nn.functional.scaled_dot_product_attention`` with a boolean key-padding mask;
everything else runs on the packed real tokens. The positions of the real tokens are found once per
batch (:class:`Layout`); packing is a row gather whose backward writes each row once (the backward of
PyTorch's indexing accumulates, which runs on one thread on CPU).
Parameter names are short and flat (``layers.0.qkv``...); checkpoint loaders map published key names
onto them explicitly (``models/foundation/hf_bert.py`` for BERT, whose separate query/key/value
projections are stacked into ``qkv``: the same layout as PyTorch's ``in_proj_weight``).
"""

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


@dataclass(frozen=True)
class EncoderConfig:
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    ffn: int = 256
    norm: str = "post"  # "post": x = LN(x + f(x)) (BERT); "pre": x = x + f(LN(x))
    activation: str = "relu"
    dropout: float = 0.0
    eps: float = 1e-12
    final_norm: bool = False  # a LayerNorm after the last layer (pre-LN models, scFoundation)

    def to_dict(self) -> dict:
        return asdict(self)


class _GatherRows(torch.autograd.Function):
    """``flat[rows]`` for distinct ``rows``; the backward scatters without accumulating (parallel on CPU)."""

    @staticmethod
    def forward(ctx, flat: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(rows)
        ctx.n_rows = flat.shape[0]
        return flat.index_select(0, rows)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (rows,) = ctx.saved_tensors
        out = grad.new_zeros(ctx.n_rows, *grad.shape[1:])
        out[rows] = grad
        return out, None


class Layout:
    """Where the real tokens of a padded (batch, length) batch are (``keep``), found once for all layers."""

    def __init__(self, keep: torch.Tensor) -> None:
        self.keep = keep
        self.rows = keep.flatten().nonzero().squeeze(1)

    def pack(self, padded: torch.Tensor) -> torch.Tensor:
        """(batch, length, d) -> (n_tokens, d): the real tokens, in order."""
        return _GatherRows.apply(padded.reshape(-1, padded.shape[-1]), self.rows)

    def unpack(self, packed: torch.Tensor) -> torch.Tensor:
        """(n_tokens, d) real tokens -> (batch, length, d) with zeros at padding."""
        out = packed.new_zeros(self.keep.numel(), packed.shape[-1])
        out[self.rows] = packed
        return out.view(*self.keep.shape, packed.shape[-1])


class EncoderLayer(nn.Module):
    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        if config.hidden % config.heads:
            raise ValueError(f"hidden size {config.hidden} is not divisible by {config.heads} heads")
        self.heads = config.heads
        self.pre_norm = config.norm == "pre"
        self.activation = ACTIVATIONS[config.activation]
        self.qkv = nn.Linear(config.hidden, 3 * config.hidden)  # [q; k; v], as PyTorch's in_proj
        self.attn_out = nn.Linear(config.hidden, config.hidden)
        self.attn_norm = nn.LayerNorm(config.hidden, eps=config.eps)
        self.ffn_in = nn.Linear(config.hidden, config.ffn)
        self.ffn_out = nn.Linear(config.ffn, config.hidden)
        self.ffn_norm = nn.LayerNorm(config.hidden, eps=config.eps)
        self.dropout = nn.Dropout(config.dropout)
        self.dropout_p = config.dropout

    def _attention(self, x: torch.Tensor, layout: Layout, key_bias: torch.Tensor | None) -> torch.Tensor:
        """``x``: packed real tokens (n_tokens, hidden); attention runs on the padded (batch, length) layout."""
        batch, length = layout.keep.shape
        hidden = x.shape[-1]
        qkv = layout.unpack(self.qkv(x)).view(batch, length, 3, self.heads, hidden // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (batch, heads, length, head_dim)
        mask = layout.keep[:, None, None, :] if key_bias is None else key_bias[:, None, None, :].to(q.dtype)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout_p if self.training else 0.0
        )
        return self.dropout(self.attn_out(layout.pack(out.transpose(1, 2).reshape(batch, length, hidden))))

    def _feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.ffn_out(self.dropout(self.activation(self.ffn_in(x)))))

    def forward(
        self, x: torch.Tensor, keep: torch.Tensor | Layout, key_bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x``: packed real tokens (n_tokens, hidden) of a batch whose layout ``keep`` gives (the
        (batch, length) mask, or its :class:`Layout`); ``key_bias`` (batch, length), when given, is added
        to the attention logits instead of masking."""
        layout = keep if isinstance(keep, Layout) else Layout(keep)
        if self.pre_norm:
            x = x + self._attention(self.attn_norm(x), layout, key_bias)
            return x + self._feed_forward(self.ffn_norm(x))
        x = self.attn_norm(x + self._attention(x, layout, key_bias))
        return self.ffn_norm(x + self._feed_forward(x))


def unpack(packed: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """(n_tokens, d) real tokens -> (batch, length, d) with zeros at padding."""
    return Layout(keep).unpack(packed)


class TransformerEncoder(nn.Module):
    """Stack of encoder layers over input embeddings; returns every layer's hidden states."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.layers))
        self.final_norm = nn.LayerNorm(config.hidden, eps=config.eps) if config.final_norm else None

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None,
                key_bias: torch.Tensor | None = None) -> list[torch.Tensor]:  # fmt: skip
        """``x``: (batch, length, hidden); ``keep``: (batch, length) bool, False at padding; ``key_bias``:
        an additive (batch, length) attention bias per key, for models whose padding is biased, not masked.

        Returns [input, layer 1, ..., layer N] (N + 1 tensors, zeros at padding after the input); with
        ``final_norm`` the last entry is normalised. Linear layers and norms run on the real tokens
        only (packed), so padding costs attention time but no projection or feed-forward time.
        """
        if keep is None:
            keep = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        layout = Layout(keep)
        states = [x]
        packed = layout.pack(x)
        for index, layer in enumerate(self.layers):
            packed = layer(packed, layout, key_bias)
            if self.final_norm is not None and index == len(self.layers) - 1:
                packed = self.final_norm(packed)
            states.append(layout.unpack(packed))
        return states

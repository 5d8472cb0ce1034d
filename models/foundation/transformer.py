"""One transformer encoder for every in-repo scFM (BERT-compatible post-LN, or pre-LN).

Attention uses ``torch.nn.functional.scaled_dot_product_attention`` with a boolean key-padding mask;
everything else runs on the packed real tokens.
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

    def _attention(self, x: torch.Tensor, keep: torch.Tensor, key_bias: torch.Tensor | None) -> torch.Tensor:
        """``x``: packed real tokens (n_tokens, hidden); attention runs on the padded (batch, length) layout."""
        batch, length = keep.shape
        hidden = x.shape[-1]
        qkv = unpack(self.qkv(x), keep).view(batch, length, 3, self.heads, hidden // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (batch, heads, length, head_dim)
        mask = keep[:, None, None, :] if key_bias is None else key_bias[:, None, None, :].to(q.dtype)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout_p if self.training else 0.0
        )
        return self.dropout(self.attn_out(out.transpose(1, 2).reshape(batch, length, hidden)[keep]))

    def _feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.ffn_out(self.dropout(self.activation(self.ffn_in(x)))))

    def forward(self, x: torch.Tensor, keep: torch.Tensor, key_bias: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: packed real tokens (n_tokens, hidden) of a batch whose layout ``keep`` gives;
        ``key_bias`` (batch, length), when given, is added to the attention logits instead of masking."""
        if self.pre_norm:
            x = x + self._attention(self.attn_norm(x), keep, key_bias)
            return x + self._feed_forward(self.ffn_norm(x))
        x = self.attn_norm(x + self._attention(x, keep, key_bias))
        return self.ffn_norm(x + self._feed_forward(x))


def unpack(packed: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """(n_tokens, d) real tokens -> (batch, length, d) with zeros at padding."""
    out = packed.new_zeros(*keep.shape, packed.shape[-1])
    out[keep] = packed
    return out


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
        states = [x]
        packed = x[keep]
        for index, layer in enumerate(self.layers):
            packed = layer(packed, keep, key_bias)
            if self.final_norm is not None and index == len(self.layers) - 1:
                packed = self.final_norm(packed)
            states.append(unpack(packed, keep))
        return states

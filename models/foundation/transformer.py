"""One transformer encoder for every in-repo scFM (BERT-compatible post-LN, or pre-LN).

Attention uses ``torch.nn.functional.scaled_dot_product_attention`` with a boolean key-padding mask.
Parameter names are short and flat (``layers.0.q``...); checkpoint loaders map published key names
onto them explicitly (see ``models/foundation/checkpoints.py``).
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
        self.q = nn.Linear(config.hidden, config.hidden)
        self.k = nn.Linear(config.hidden, config.hidden)
        self.v = nn.Linear(config.hidden, config.hidden)
        self.attn_out = nn.Linear(config.hidden, config.hidden)
        self.attn_norm = nn.LayerNorm(config.hidden, eps=config.eps)
        self.ffn_in = nn.Linear(config.hidden, config.ffn)
        self.ffn_out = nn.Linear(config.ffn, config.hidden)
        self.ffn_norm = nn.LayerNorm(config.hidden, eps=config.eps)
        self.dropout = nn.Dropout(config.dropout)
        self.dropout_p = config.dropout

    def _attention(self, x: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        batch, length, hidden = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.heads, hidden // self.heads).transpose(1, 2)

        mask = None if keep is None else keep[:, None, None, :]  # True = attend to this key
        out = F.scaled_dot_product_attention(
            split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=mask,
            dropout_p=self.dropout_p if self.training else 0.0,
        )  # fmt: skip
        return self.dropout(self.attn_out(out.transpose(1, 2).reshape(batch, length, hidden)))

    def _feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.ffn_out(self.dropout(self.activation(self.ffn_in(x)))))

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        if self.pre_norm:
            x = x + self._attention(self.attn_norm(x), keep)
            return x + self._feed_forward(self.ffn_norm(x))
        x = self.attn_norm(x + self._attention(x, keep))
        return self.ffn_norm(x + self._feed_forward(x))


class TransformerEncoder(nn.Module):
    """Stack of encoder layers over input embeddings; returns every layer's hidden states."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.layers))
        self.final_norm = nn.LayerNorm(config.hidden, eps=config.eps) if config.final_norm else None

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> list[torch.Tensor]:
        """``x``: (batch, length, hidden); ``keep``: (batch, length) bool, False at padding.

        Returns [input, layer 1, ..., layer N] (N + 1 tensors); with ``final_norm`` the last entry is
        normalised.
        """
        states = [x]
        for layer in self.layers:
            x = layer(x, keep)
            states.append(x)
        if self.final_norm is not None:
            states[-1] = self.final_norm(states[-1])
        return states

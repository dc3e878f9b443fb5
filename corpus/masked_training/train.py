"""Training loop: synthetic padded batches, masked loss, and an EMA of the weights."""

from __future__ import annotations

import torch
from torch import nn

from .losses import IGNORE_INDEX, masked_token_loss, token_accuracy
from .model import NUM_TAGS, PAD_ID, VOCAB_SIZE, TokenTagger


def synthetic_batches(
    num_batches: int, batch_size: int, length: int, device: torch.device | str = "cpu"
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Random right-padded token batches whose tag is a fixed function of the token id."""
    batches = []
    for _ in range(num_batches):
        lengths = torch.randint(1, length + 1, (batch_size,)).to(device)
        tokens = torch.randint(2, VOCAB_SIZE, (batch_size, length)).to(device)
        positions = torch.arange(length).to(device)
        padding = positions[None, :] >= lengths[:, None]
        tokens = tokens.masked_fill(padding, PAD_ID)
        tags = (tokens * 7 + 3) % NUM_TAGS
        labels = tags.clone()
        labels[padding] = IGNORE_INDEX
        batches.append((tokens, labels))
    return batches


class ExponentialMovingAverage:
    """Shadow copy of a model's floating-point weights, updated after every step."""

    def __init__(self, model: nn.Module, decay: float = 0.9) -> None:
        self.decay = decay
        self.shadow = {name: p.detach().clone() for name, p in model.state_dict().items() if p.is_floating_point()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for name, param in model.state_dict().items():
            if name in self.shadow:
                self.shadow[name] = self.decay * self.shadow[name] + (1 - self.decay) * param


def train_epoch(
    model: TokenTagger,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    class_weights: list[float],
    ema: ExponentialMovingAverage | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """One pass over ``batches``; returns the mean loss and the token accuracy."""
    model.train()
    weights = torch.tensor(class_weights).to(device)
    total_loss = torch.zeros(()).to(device)
    correct = torch.zeros((), dtype=torch.float64).to(device)
    for tokens, labels in batches:
        tokens, labels = tokens.to(device), labels.to(device)
        logits = model(tokens)
        loss = masked_token_loss(logits, labels, weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if ema is not None:
            ema.update(model)
        total_loss += loss.detach()
        correct += token_accuracy(logits.detach(), labels)
    return {"loss": total_loss.item() / len(batches), "accuracy": correct.item() / len(batches)}


def run(epochs: int = 2, seed: int = 0) -> tuple[TokenTagger, ExponentialMovingAverage, list[dict[str, float]]]:
    """A seeded smoke run on CPU: a few epochs over the same synthetic batches."""
    torch.manual_seed(seed)
    model = TokenTagger(VOCAB_SIZE, NUM_TAGS)
    ema = ExponentialMovingAverage(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    batches = synthetic_batches(num_batches=3, batch_size=4, length=6)
    weights = [1.0, 1.0, 1.5, 1.5, 2.0, 2.0]
    history = [train_epoch(model, batches, optimizer, weights, ema) for _ in range(epochs)]
    return model, ema, history

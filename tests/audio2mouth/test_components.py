"""Properties of the pure torch networks: causality, look-ahead, receptive field, delay, shapes."""

from __future__ import annotations

import pytest
import torch

from audio2mouth.components import BiLSTM, DelayedLSTM, GANLoss, TCNDiscriminator, TCNGenerator


def influence(net: torch.nn.Module, t: int, length: int = 90, d: int = 5) -> torch.Tensor:
    """(length,) bool: which input steps change output step ``t`` when perturbed."""
    torch.manual_seed(0)
    net.eval()
    x = torch.randn(1, length, d)
    with torch.no_grad():
        base = net(x)[0, t]
        changed = []
        for s in range(length):
            x2 = x.clone()
            x2[0, s] += 10.0
            changed.append(not torch.equal(net(x2)[0, t], base))  # bit-exact: any influence
    return torch.tensor(changed)


def tcn(**kw) -> TCNGenerator:
    return TCNGenerator(5, 3, channels=8, kernel_size=3, dilations=(1, 2, 4), dropout=0.0, **kw)


def test_tcn_receptive_field_noncausal_is_centred():
    net = tcn()
    assert net.receptive_field == 1 + 2 * 2 * (1 + 2 + 4) == 29
    hit = influence(net, t=45).nonzero().flatten()
    assert hit.min().item() == 45 - 14 and hit.max().item() == 45 + 14
    assert net.future_context == 14


@pytest.mark.parametrize("lookahead", [0, 3, 10])
def test_causal_tcn_sees_nothing_after_lookahead(lookahead: int):
    net = tcn(causal=True, lookahead=lookahead)
    t = 55
    hit = influence(net, t=t).nonzero().flatten()
    # outputs at t do not change when inputs after t + look-ahead change ...
    assert hit.max().item() == t + lookahead
    # ... and the window reaches receptive_field - 1 steps into the past
    assert hit.min().item() == t + lookahead - (net.receptive_field - 1)
    assert net.future_context == lookahead


def test_noncausal_tcn_rejects_lookahead_and_even_kernel():
    with pytest.raises(ValueError):
        tcn(lookahead=2)
    with pytest.raises(ValueError):
        TCNGenerator(5, 3, kernel_size=4)


@pytest.mark.parametrize("delay", [0, 4, 20])
def test_lstm_output_is_delayed_and_aligned(delay: int):
    net = DelayedLSTM(5, 3, hidden=8, delay=delay)
    t = 30
    hit = influence(net, t=t, length=60).nonzero().flatten()
    # output t has heard exactly `delay` steps of future audio, nothing more
    assert hit.max().item() == t + delay
    assert hit.min().item() < t  # and remembers the past
    assert net(torch.randn(2, 17, 5)).shape == (2, 17, 3)


def test_bilstm_sees_both_directions():
    hit = influence(BiLSTM(5, 3, hidden=8), t=30, length=60)
    assert hit.all()


@pytest.mark.parametrize(
    "net",
    [tcn(), tcn(causal=True, lookahead=2), DelayedLSTM(5, 3, hidden=8), BiLSTM(5, 3, hidden=8)],
)
@pytest.mark.parametrize("length", [1, 7, 200])
def test_generator_shapes_any_length(net: torch.nn.Module, length: int):
    assert net(torch.randn(4, length, 5)).shape == (4, length, 3)


def test_discriminator_judges_pairs_per_step():
    disc = TCNDiscriminator(5, 3, channels=8, dilations=(1, 2))
    logits = disc(torch.randn(2, 50, 5), torch.randn(2, 50, 3))
    assert logits.shape == (2, 50)
    assert disc.receptive_field == 13


@pytest.mark.parametrize("mode", ["lsgan", "vanilla"])
def test_gan_loss_is_lower_for_the_right_label(mode: str):
    loss = GANLoss(mode)
    high = torch.full((2, 10), 3.0 if mode == "vanilla" else 1.0)
    assert loss(high, True) < loss(high, False)
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[:, :5] = True
    mixed = torch.cat([high[:, :5], -high[:, 5:]], dim=1)
    assert torch.isclose(loss(mixed, True, mask), loss(high, True))

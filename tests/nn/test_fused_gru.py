"""The fused GRU kernel against nn.GRU: outputs, final states and every gradient, in float64."""

import pytest
import torch
from torch import nn

from rnnlab.nn.cells.fused_gru import FusedGRU, can_fuse, fused_gru


def _pair(layers: int, input_size: int = 5, hidden: int = 7, seed: int = 0) -> nn.GRU:
    torch.manual_seed(seed)
    return nn.GRU(input_size, hidden, layers, batch_first=True).double()


def _grads(module: nn.GRU, x: torch.Tensor, h0: torch.Tensor, run) -> tuple:
    x = x.clone().requires_grad_(True)
    h0 = h0.clone().requires_grad_(True)
    out, hT = run(module, x, h0)
    # A loss that weights every output and the final state differently, so a gradient that is
    # right only in sum cannot pass.
    g_out = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    g_h = torch.linspace(0.5, -0.3, hT.numel(), dtype=out.dtype).view_as(hT)
    ((out * g_out).sum() + (hT * g_h).sum() + (out ** 2).sum()).backward()
    grads = {name: p.grad.clone() for name, p in module.named_parameters()}
    module.zero_grad()
    return out.detach(), hT.detach(), x.grad, h0.grad, grads


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("T", [1, 2, 9])
def test_matches_nn_gru_outputs_and_gradients(layers, T):
    gru = _pair(layers)
    torch.manual_seed(1)
    x = torch.randn(4, T, 5, dtype=torch.float64)
    h0 = torch.randn(layers, 4, 7, dtype=torch.float64)
    ref = _grads(gru, x, h0, lambda m, a, b: m(a, b))
    got = _grads(gru, x, h0, fused_gru)
    for r, g in zip(ref[:4], got[:4]):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-12)
    assert ref[4].keys() == got[4].keys()
    for name in ref[4]:
        torch.testing.assert_close(got[4][name], ref[4][name], rtol=1e-10, atol=1e-12,
                                   msg=lambda m: f"{name}: {m}")


def test_gradcheck_of_the_autograd_function():
    from rnnlab.nn.cells.fused_gru import _GRUSequence

    torch.manual_seed(2)
    T, B, H = 4, 3, 2
    inputs = (torch.randn(T, B, 3 * H, dtype=torch.float64, requires_grad=True),
              torch.randn(B, H, dtype=torch.float64, requires_grad=True),
              torch.randn(3 * H, H, dtype=torch.float64, requires_grad=True),
              torch.randn(3 * H, dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradcheck(_GRUSequence.apply, inputs)


def test_no_initial_state_means_zeros_and_float32_close():
    gru = _pair(2).float()
    x = torch.randn(3, 6, 5)
    ref_out, ref_h = gru(x)
    out, h = fused_gru(gru, x)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h, ref_h, rtol=1e-5, atol=1e-6)


def test_can_fuse_only_plain_gru():
    x = torch.randn(2, 3, 5)
    assert can_fuse(nn.GRU(5, 4, batch_first=True), x)
    assert not can_fuse(nn.GRU(5, 4, batch_first=True, bidirectional=True), x)
    assert not can_fuse(nn.GRU(5, 4, batch_first=False), x)
    assert not can_fuse(nn.LSTM(5, 4, batch_first=True), x)
    assert not can_fuse(nn.GRU(5, 4, batch_first=True), x.bfloat16())
    assert not can_fuse(nn.GRU(5, 4, batch_first=True, bias=False), x)
    with pytest.raises(ValueError, match="with biases"):
        fused_gru(nn.GRU(5, 4, batch_first=True, bias=False), x)
    with pytest.raises(ValueError, match="unidirectional"):
        fused_gru(nn.GRU(5, 4, batch_first=True, bidirectional=True), x)


def test_fused_gru_module_is_nn_gru_with_the_kernel(monkeypatch):
    """FusedGRU: nn.GRU's parameters, the kernel for dense input, nn.GRU for the rest."""
    from torch.nn.utils.rnn import pack_padded_sequence

    import rnnlab.nn.cells.fused_gru as module

    torch.manual_seed(3)
    fused = FusedGRU(5, 7, 2, batch_first=True).double()
    plain = _pair(2)
    plain.load_state_dict(fused.state_dict())
    calls = []
    monkeypatch.setattr(module, "fused_gru", lambda *a: calls.append(1) or fused_gru(*a))
    x = torch.randn(3, 6, 5, dtype=torch.float64)
    h0 = torch.randn(2, 3, 7, dtype=torch.float64)
    ref = _grads(plain, x, h0, lambda m, a, b: m(a, b))
    got = _grads(fused, x, h0, lambda m, a, b: m(a, b))
    assert len(calls) == 1                        # the dense call went through the kernel
    for r, g in zip(ref[:4], got[:4]):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-12)
    for name in ref[4]:
        torch.testing.assert_close(got[4][name], ref[4][name], rtol=1e-10, atol=1e-12)
    packed = pack_padded_sequence(x, torch.tensor([6, 2, 4]), batch_first=True,
                                  enforce_sorted=False)
    out, h = fused(packed)
    assert len(calls) == 1                        # packed input: nn.GRU's own forward
    expected_out, expected_h = plain(packed)
    torch.testing.assert_close(out.data, expected_out.data, rtol=0, atol=0)
    torch.testing.assert_close(h, expected_h, rtol=0, atol=0)

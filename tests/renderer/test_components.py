"""Pure torch components: shapes at 64 px, GAN loss targets, weighted L1, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from renderer.components import (
    GANLoss,
    MultiScaleDiscriminator,
    UNetGenerator,
    feature_matching_loss,
    make_input,
    psnr,
    ssim,
    to_uint8,
    unet_depth,
    weighted_gradient_loss,
    weighted_l1,
    weighted_ssim_loss,
)


@pytest.mark.parametrize("in_channels", [3, 6])
@pytest.mark.parametrize("refine", [True, False])
def test_generator_shapes_at_64px(in_channels: int, refine: bool):
    gen = UNetGenerator(in_channels, crop_size=64, ngf=8, max_channels=32, refine=refine)
    out = gen(torch.randn(2, in_channels, 64, 64))
    assert out.shape == (2, 3, 64, 64)
    assert out.min() >= -1 and out.max() <= 1  # tanh range = image range


@pytest.mark.parametrize("refine_map", [True, False])
def test_refine_head_sees_the_face_map_only_when_asked(refine_map: bool):
    """With the U-Net body silenced, the output depends on the input through the head alone."""
    gen = UNetGenerator(9, crop_size=64, ngf=8, max_channels=32, refine_map=refine_map).eval()
    up = gen.model.model[3]  # the outermost level's transposed conv: zeroed, the body outputs 0
    torch.nn.init.zeros_(up.weight)
    torch.nn.init.zeros_(up.bias)
    x = torch.randn(1, 9, 64, 64)
    with torch.no_grad():
        base = gen(x)
        new_map, new_reference = x.clone(), x.clone()
        new_map[:, :3] += 1.0
        new_reference[:, 3:6] += 1.0
        assert not torch.allclose(gen(new_reference), base)
        assert torch.allclose(gen(new_map), base) != refine_map


def test_residual_generator_starts_as_its_reference_and_learns_a_correction():
    torch.manual_seed(0)
    gen = UNetGenerator(9, crop_size=64, ngf=8, max_channels=32, residual=True)
    x = torch.rand(2, 9, 64, 64) * 2 - 1
    assert torch.equal(gen(x), x[:, 6:])  # no correction before training
    # a brighter target: a few steps on the L1 learn to add light on top of the reference
    opt = torch.optim.Adam(gen.parameters(), lr=1e-2)
    target = (x[:, 6:] + 0.2).clamp(-1, 1)
    first = (gen(x) - target).abs().mean().item()
    for _ in range(30):
        opt.zero_grad()
        loss = (gen(x) - target).abs().mean()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
    out = gen(x)
    assert out.min() >= -1 and out.max() <= 1
    with pytest.raises(ValueError, match="refine"):
        UNetGenerator(9, crop_size=64, refine=False, residual=True)


def test_generator_depth_follows_crop_size():
    assert [unet_depth(s) for s in (64, 128, 256, 512)] == [6, 7, 8, 9]
    gen = UNetGenerator(3, crop_size=64, ngf=4, max_channels=16)
    n_down = sum(1 for m in gen.modules() if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2))
    assert n_down == 6  # 64 -> 1 px
    with pytest.raises(ValueError):
        UNetGenerator(3, crop_size=96)
    with pytest.raises(ValueError):
        gen(torch.randn(1, 3, 32, 32))


def test_discriminator_multiscale_shapes():
    disc = MultiScaleDiscriminator(9, ndf=8, n_layers=3, num_scales=2)
    out = disc(torch.randn(2, 9, 64, 64))
    assert len(out) == 2 and len(out[0]) == 5
    assert out[0][-1].shape[:2] == (2, 1)
    # 70x70 PatchGAN at 64 px: 64 -> 32 -> 16 -> 8 -> 7 -> 6 patches per side.
    assert out[0][-1].shape[-2:] == (6, 6)
    assert out[1][-1].shape[-1] < out[0][-1].shape[-1]


def test_gan_loss_targets_lsgan():
    loss = GANLoss("lsgan")
    ones, zeros = torch.ones(2, 1, 5, 5), torch.zeros(2, 1, 5, 5)
    assert torch.equal(loss.target_tensor(zeros, True), ones)
    assert torch.equal(loss.target_tensor(ones, False), zeros)
    assert loss(ones, True).item() == 0.0 and loss(zeros, False).item() == 0.0
    assert loss(zeros, True).item() == pytest.approx(1.0)
    assert loss(torch.full((1, 1, 3, 3), 0.5), False).item() == pytest.approx(0.25)


def test_gan_loss_targets_vanilla_and_multiscale():
    loss = GANLoss("vanilla")
    big = torch.full((1, 1, 4, 4), 20.0)
    assert loss(big, True).item() < 1e-6 and loss(-big, False).item() < 1e-6
    assert loss(big, False).item() > 10
    # Feature lists: only the last entry (the prediction) counts, averaged over scales.
    feats = [
        [torch.randn(1, 4, 8, 8), torch.ones(1, 1, 4, 4)],
        [torch.randn(1, 4, 4, 4), torch.zeros(1, 1, 2, 2)],
    ]
    assert GANLoss("lsgan")(feats, True).item() == pytest.approx(0.5)


def test_gan_loss_labels_follow_dtype_and_state_dict():
    loss = GANLoss("lsgan").to(torch.float64)
    assert loss.target_tensor(torch.zeros(1, dtype=torch.float64), True).dtype == torch.float64
    assert set(loss.state_dict()) == {"real_label", "fake_label"}
    with pytest.raises(ValueError):
        GANLoss("wasserstein")


def test_weighted_l1_puts_weight_on_the_mouth():
    real = torch.zeros(1, 3, 10, 10)
    mouth = torch.zeros(1, 1, 10, 10)
    mouth[..., 4:6, 4:6] = 1  # 4 % of the pixels
    err_mouth, err_else = real.clone(), real.clone()
    err_mouth[..., 4, 4] = 1.0
    err_else[..., 0, 0] = 1.0
    weight = 1 + 10 * mouth
    assert weighted_l1(err_mouth, real, weight) > 5 * weighted_l1(err_else, real, weight)
    # A uniform weight is plain L1.
    x = torch.rand(2, 3, 8, 8)
    assert weighted_l1(
        x, real[..., :8, :8].expand_as(x), torch.full((2, 1, 8, 8), 3.0)
    ).item() == pytest.approx(x.abs().mean().item(), rel=1e-5)


def test_weighted_ssim_loss_sees_blur_where_the_weight_is():
    rng = np.random.default_rng(1)
    real = torch.from_numpy(rng.random((1, 3, 32, 32)).astype(np.float32) * 2 - 1)
    mouth = torch.zeros(1, 1, 32, 32)
    mouth[..., 8:24, 8:24] = 1  # a quarter of the pixels, weighted 11x
    weight = 1 + 10 * mouth
    assert weighted_ssim_loss(real, real, weight).item() == pytest.approx(0.0, abs=1e-5)
    # Blurring a texture keeps its mean (small L1) but destroys its structure: SSIM sees it.
    blurred = torch.nn.functional.avg_pool2d(real, 3, stride=1, padding=1, count_include_pad=False)
    blur_mouth, blur_else = real.clone(), blurred.clone()
    blur_mouth[..., 8:24, 8:24] = blurred[..., 8:24, 8:24]
    blur_else[..., 8:24, 8:24] = real[..., 8:24, 8:24]
    assert weighted_ssim_loss(blur_mouth, real, weight) > weighted_ssim_loss(blur_else, real, weight)
    assert weighted_ssim_loss(blurred, real).item() > 0.3
    # It has gradients toward the truth.
    fake = blurred.clone().requires_grad_()
    weighted_ssim_loss(fake, real, weight).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_gradient_loss_sees_lost_edges_where_the_weight_is():
    rng = np.random.default_rng(2)
    real = torch.from_numpy(rng.random((1, 3, 32, 32)).astype(np.float32) * 2 - 1)
    assert weighted_gradient_loss(real, real).item() == 0.0
    # a constant shift keeps every edge: no gradient loss, though its L1 is 0.5
    assert weighted_gradient_loss(real + 0.5, real).item() == pytest.approx(0.0, abs=1e-6)
    blurred = torch.nn.functional.avg_pool2d(real, 3, stride=1, padding=1, count_include_pad=False)
    assert weighted_gradient_loss(blurred, real).item() > 0.3
    mouth = torch.zeros(1, 1, 32, 32)
    mouth[..., 8:24, 8:24] = 1
    weight = 1 + 10 * mouth
    blur_mouth, blur_else = real.clone(), blurred.clone()
    blur_mouth[..., 8:24, 8:24] = blurred[..., 8:24, 8:24]
    blur_else[..., 8:24, 8:24] = real[..., 8:24, 8:24]
    assert weighted_gradient_loss(blur_mouth, real, weight) > weighted_gradient_loss(blur_else, real, weight)
    fake = blurred.clone().requires_grad_()
    weighted_gradient_loss(fake, real, weight).backward()
    assert fake.grad.abs().sum() > 0


def test_feature_matching_zero_on_identical_and_ignores_prediction():
    feats = [[torch.randn(1, 4, 8, 8), torch.randn(1, 1, 4, 4)]]
    other = [[feats[0][0].clone(), torch.randn(1, 1, 4, 4)]]
    assert feature_matching_loss(feats, other).item() == 0.0
    shifted = [[feats[0][0] + 1, feats[0][1]]]
    assert feature_matching_loss(shifted, feats).item() == pytest.approx(1.0)


def test_psnr_and_ssim_match_definitions():
    rng = np.random.default_rng(0)
    a = rng.random((2, 3, 32, 32)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1).astype(np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    expected_psnr = 10 * np.log10(1 / ((a - b) ** 2).reshape(2, -1).mean(1))
    assert np.allclose(psnr(ta, tb).numpy(), expected_psnr, atol=1e-3)
    ref = structural_similarity(
        a[0].transpose(1, 2, 0),
        b[0].transpose(1, 2, 0),
        channel_axis=2,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1.0,
    )
    assert ssim(ta, tb)[0].item() == pytest.approx(ref, abs=0.02)
    assert ssim(ta, ta)[0].item() == pytest.approx(1.0, abs=1e-4)


def test_make_input_masks_the_reference():
    face = torch.full((1, 3, 4, 4), 255, dtype=torch.uint8)
    ref = torch.full((1, 3, 4, 4), 255, dtype=torch.uint8)
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.uint8)
    mask[..., 2:, :] = 1
    x = make_input(face, ref, mask, use_reference=True)
    assert x.shape == (1, 6, 4, 4)
    assert torch.all(x[:, 3:, :2] == 1) and torch.all(x[:, 3:, 2:] == 0)
    assert make_input(face, use_reference=False).shape == (1, 3, 4, 4)
    with pytest.raises(ValueError):
        make_input(face, use_reference=True)
    assert torch.equal(to_uint8(x[:, :3]), face)

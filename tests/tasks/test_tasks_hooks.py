"""What each task feeds the networks and the losses: channels, inputs, composites, metrics."""

from __future__ import annotations

import pytest
import torch

from gan_engine.components.tasks.inpainting import masked_psnr
from gan_engine.errors import ShapeError
from gan_engine.metrics import psnr
from gan_engine.metrics.distribution import sliced_wasserstein
from gan_engine.registry import losses, tasks


def test_image_to_image_channels_and_conditional_discriminator() -> None:
    task = tasks.build("image_to_image", in_bands=2)
    assert task.generator_channels(4) == (2, 4) and task.discriminator_channels(4) == 6
    cond, image = torch.rand(3, 2, 8, 8), torch.rand(3, 4, 8, 8)
    batch = task.prepare_batch((cond, image))
    assert task.generator_inputs(batch)[0] is cond and task.real(batch) is image
    d_in = task.discriminator_input(image, batch)
    assert d_in.shape == (3, 6, 8, 8) and torch.equal(d_in[:, :2], cond)
    plain = tasks.build("image_to_image", conditional_discriminator=False)
    assert plain.discriminator_channels(4) == 4 and plain.generator_channels(4) == (4, 4)


def test_image_to_image_rejects_bad_batches() -> None:
    task = tasks.build("image_to_image", in_bands=2)
    with pytest.raises(ShapeError, match=r"mapping with 'cond', 'image' tensors .*got dict with keys \['a', 'b'\]"):
        task.prepare_batch({"a": torch.rand(1), "b": torch.rand(1)})
    with pytest.raises(ShapeError, match=r"same size; got cond \(1, 2, 8, 8\) and image \(1, 4, 16, 16\)"):
        task.prepare_batch({"cond": torch.rand(1, 2, 8, 8), "image": torch.rand(1, 4, 16, 16)})
    with pytest.raises(ShapeError, match=r"cond has 3 bands but Task\.in_bands is 2"):
        task.prepare_batch({"cond": torch.rand(1, 3, 8, 8), "image": torch.rand(1, 4, 8, 8)})


def test_image_to_image_metrics() -> None:
    task = tasks.build("image_to_image")
    image = torch.rand(2, 3, 16, 16)
    batch = {"cond": image, "image": image}
    perfect = task.validation_metrics(image, batch, 1.0)
    assert float(perfect["l1"]) == 0.0 and float(perfect["psnr"]) > 100 and float(perfect["ssim"]) > 0.999
    worse = task.validation_metrics(image + 0.1, batch, 1.0)
    assert abs(float(worse["psnr"]) - 20.0) < 1e-3 and abs(float(worse["l1"]) - 0.1) < 1e-6


def _holes() -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.rand(2, 3, 16, 16)
    mask = torch.zeros(2, 1, 16, 16)
    mask[:, :, 4:12, 2:6] = 1
    return image, mask


def test_inpainting_generator_sees_the_masked_image_and_the_mask() -> None:
    task = tasks.build("inpainting")
    assert task.generator_channels(3) == (4, 3) and task.discriminator_channels(3) == 3
    image, mask = _holes()
    batch = task.prepare_batch({"image": image, "mask": mask[:, 0]})  # (N, H, W) masks are accepted
    (g_in,) = task.generator_inputs(batch)
    assert g_in.shape == (2, 4, 16, 16) and torch.equal(g_in[:, 3:], mask)
    assert float(g_in[:, :3][mask.expand(-1, 3, -1, -1) > 0].abs().sum()) == 0.0  # no leak of the hole
    torch.testing.assert_close(g_in[:, :3] + image * mask, image)


def test_inpainting_composite_keeps_known_pixels() -> None:
    task = tasks.build("inpainting")
    image, mask = _holes()
    fake = torch.full_like(image, 0.5)
    composite = task.compose(fake, {"image": image, "mask": mask})
    torch.testing.assert_close(composite * (1 - mask), image * (1 - mask))
    assert torch.all(composite[mask.expand(-1, 3, -1, -1) > 0] == 0.5)


def test_inpainting_content_loss_averages_each_region_over_its_own_pixels() -> None:
    task = tasks.build("inpainting", hole_weight=6.0, known_weight=1.0)
    image, mask = _holes()
    fake = image + 0.2 * mask - 0.05 * (1 - mask)  # error 0.2 on the hole, 0.05 elsewhere
    l1 = {"l1": lambda p, t: (p - t).abs().mean()}  # no supports_weight: the mask-and-rescale fallback
    value = task.content_loss(fake, {"image": image, "mask": mask}, l1)["l1"]
    assert abs(float(value) - (6.0 * 0.2 + 1.0 * 0.05)) < 1e-5
    hole_only = tasks.build("inpainting", known_weight=0.0).content_loss(fake, {"image": image, "mask": mask}, l1)
    assert abs(float(hole_only["l1"]) - 6.0 * 0.2) < 1e-5
    with pytest.raises(ValueError, match="not both 0"):
        tasks.build("inpainting", hole_weight=0.0, known_weight=0.0)


def test_inpainting_content_losses_get_the_regions_as_per_pixel_weights() -> None:
    image, mask = _holes()
    fake = (image + 0.3 * torch.randn_like(image) * mask).clamp(0, 1)  # wrong only in the holes
    ssim = losses.build("ssim")
    batch = {"image": image, "mask": mask}
    hole = tasks.build("inpainting", hole_weight=1.0, known_weight=0.0).content_loss(fake, batch, {"ssim": ssim})
    expected = ssim(fake, image, weight=mask)
    assert torch.allclose(hole["ssim"], expected, atol=1e-6)
    # multiplying both images by the mask is not the hole's SSIM: windows straddle the edge
    assert not torch.allclose(hole["ssim"], ssim(fake * mask, image * mask) / mask.mean(), atol=1e-3)
    both = tasks.build("inpainting", hole_weight=6.0, known_weight=1.0).content_loss(fake, batch, {"ssim": ssim})
    assert torch.allclose(both["ssim"], 6 * expected + ssim(fake, image, weight=1 - mask), atol=1e-6)


def test_inpainting_leaves_nodata_pixels_out_of_both_regions() -> None:
    image, mask = _holes()
    valid = torch.ones_like(mask)
    valid[:, :, :, 4:] = 0
    fake = image + 0.1
    fake[:, :, :, 4:] += 5.0  # missing data: must not count
    value = tasks.build("inpainting", hole_weight=6.0, known_weight=1.0).content_loss(
        fake, {"image": image, "mask": mask, "valid": valid}, {"l1": losses.build("l1")})["l1"]
    assert abs(float(value) - 7 * 0.1) < 1e-5


def test_nodata_mask_is_a_per_pixel_weight_of_supporting_losses() -> None:
    task = tasks.build("super_resolution", scale=2)
    hr = torch.rand(2, 3, 16, 16)
    valid = torch.ones(2, 1, 16, 16)
    valid[:, :, :6] = 0
    fake = (hr + 0.2 * torch.randn_like(hr)).clamp(0, 1)
    batch = {"lr": hr[..., ::2, ::2], "hr": hr, "valid": valid}
    terms = {"ssim": losses.build("ssim"), "sam": losses.build("sam")}
    values = task.content_loss(fake, batch, terms)
    for name, loss in terms.items():
        assert torch.allclose(values[name], loss(fake, hr, weight=valid), atol=1e-6), name


def test_inpainting_discriminator_sees_the_composite() -> None:
    task = tasks.build("inpainting")
    image, mask = _holes()
    batch = {"image": image, "mask": mask}
    torch.testing.assert_close(task.discriminator_input(image.clone(), batch), image)  # real: unchanged
    fake = torch.zeros_like(image, requires_grad=True)
    seen = task.discriminator_input(fake, batch)
    torch.testing.assert_close(seen, task.compose(fake, batch))
    seen.sum().backward()
    assert fake.grad is not None
    torch.testing.assert_close(fake.grad, mask.expand_as(image))  # only hole pixels reach the generator
    assert set(task.panels(fake, batch)) == {"Input (masked)", "Mask", "Output", "Target"}


def test_inpainting_metrics_look_at_the_hole() -> None:
    task = tasks.build("inpainting")
    image, mask = _holes()
    fake = image + 0.1 * mask + 0.3 * (1 - mask)  # known-region errors must not count in the hole metrics
    metrics = task.validation_metrics(fake, {"image": image, "mask": mask}, 1.0)
    assert abs(float(metrics["psnr_hole"]) - 20.0) < 1e-3 and abs(float(metrics["l1_hole"]) - 0.1) < 1e-5
    hole = mask.expand(-1, 3, -1, -1) > 0
    reference = psnr(fake[hole].view(1, 1, 1, -1), image[hole].view(1, 1, 1, -1), 1.0)
    torch.testing.assert_close(masked_psnr(fake, image, mask, 1.0), reference)
    # the composite is exact outside the hole (1/8 of the pixels): 20 dB + 10·log10(8)
    assert abs(float(metrics["psnr"]) - 29.0309) < 1e-3


def test_inpainting_rejects_bad_masks() -> None:
    task = tasks.build("inpainting")
    with pytest.raises(ShapeError, match=r"mask \(N, 1, H, W\) with 1 on the holes; got image \(1, 3, 8, 8\) "
                                         r"and mask \(1, 3, 8, 8\)"):
        task.prepare_batch({"image": torch.rand(1, 3, 8, 8), "mask": torch.rand(1, 3, 8, 8)})


def test_synthesis_inputs_labels_and_discriminator_planes() -> None:
    task = tasks.build("synthesis", latent_dim=16, num_classes=3)
    assert task.generator_channels(4) == (16, 4) and task.discriminator_channels(4) == 7
    assert not task.has_content_target
    image, label = torch.rand(5, 4, 8, 8), torch.tensor([0, 1, 2, 1, 0])
    batch = task.prepare_batch((image, label))
    z, lab = task.generator_inputs(batch)
    assert z.shape == (5, 16) and torch.equal(lab, label)
    d_in = task.discriminator_input(image, batch)
    assert d_in.shape == (5, 7, 8, 8) and torch.equal(d_in[1, 5], torch.ones(8, 8))
    assert float(d_in[1, 4].sum()) == 0.0
    fixed = torch.randn(5, 16)
    assert task.generator_inputs({**batch, "noise": fixed})[0] is fixed
    unconditional = tasks.build("synthesis", latent_dim=16)
    assert len(unconditional.generator_inputs(unconditional.prepare_batch(image))) == 1


def test_synthesis_rejects_missing_labels_and_wrong_noise() -> None:
    task = tasks.build("synthesis", latent_dim=16, num_classes=3)
    with pytest.raises(ShapeError, match=r"Task\.num_classes is 3: the batch needs integer labels"):
        task.prepare_batch({"image": torch.rand(2, 3, 8, 8)})
    with pytest.raises(ShapeError, match=r"'noise' must be \(N, 16\)"):
        task.prepare_batch({"image": torch.rand(2, 3, 8, 8), "label": torch.zeros(2), "noise": torch.rand(2, 8)})


def test_swd_ranks_distributions() -> None:
    from gan_engine.data.synthetic import make_scenes

    real, other = make_scenes(16, 3, 32, 0), make_scenes(16, 3, 32, 1)
    near = sliced_wasserstein(real, other)
    far = sliced_wasserstein(real, torch.rand_like(real))
    assert float(near) < float(far)
    task = tasks.build("synthesis", latent_dim=8)
    assert set(task.validation_metrics(other, {"image": real}, 1.0)) == {"swd"}
    with pytest.raises(ShapeError, match="at least 7×7"):
        sliced_wasserstein(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4))

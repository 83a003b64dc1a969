"""Inputs of the temporal discriminator: two consecutive frames and their face maps.

A per-frame GAN never sees two frames at once, so nothing stops consecutive
renders from disagreeing in texture (teeth that come and go, a lip edge that
shimmers). vid2vid adds a discriminator on short stacks of consecutive frames;
here the stack is two frames, and the face maps of both travel with them so the
discriminator can tell motion the maps ask for from flicker they do not.
Inference is unchanged: frames are still rendered one by one, chunk by chunk.
"""

from __future__ import annotations

import torch

from renderer.components.conditioning import to_signed


def previous_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ``prev_*`` entries of a training batch, without the prefix (the previous frames' pairs)."""
    prev = {k.removeprefix("prev_"): v for k, v in batch.items() if k.startswith("prev_")}
    if not prev:
        raise ValueError("the temporal discriminator needs batches with prev_* (render_data.previous_frame=true)")
    return prev


def frame_pair(previous: torch.Tensor, current: torch.Tensor, previous_map: torch.Tensor,
               current_map: torch.Tensor) -> torch.Tensor:
    """(B, 12, S, S): previous and current image in [-1, 1], then both uint8 face maps in [-1, 1]."""
    return torch.cat([previous, current, to_signed(previous_map), to_signed(current_map)], 1)

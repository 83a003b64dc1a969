"""The renderer's input: the face map, optionally with the masked reference frame.

Conditioning is concatenated along channels, (B, 3, S, S) face map plus, with
``use_reference``, (B, 3, S, S) reference crop whose lower face is blanked (the
pose prior of LipGAN: head pose, skin tone and lighting come from the reference,
the mouth must come from the face map). Images are mapped from uint8 to [-1, 1].
"""

from __future__ import annotations

import torch


def to_signed(image_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) in [0, 255] -> float in [-1, 1]."""
    return image_u8.float() / 127.5 - 1.0


def to_uint8(image: torch.Tensor) -> torch.Tensor:
    """float (B, C, H, W) in [-1, 1] -> uint8, rounded to the nearest level."""
    return ((image.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


FACE_MAP_CHANNELS = 3  # the input starts with the face map; the references follow it


def input_channels(use_reference: bool, mouth_reference: bool = False) -> int:
    """Channels of the generator's input for a conditioning setting."""
    return FACE_MAP_CHANNELS + 3 * int(use_reference) + 3 * int(mouth_reference)


def make_input(
    face_map: torch.Tensor,
    reference: torch.Tensor | None = None,
    lower_mask: torch.Tensor | None = None,
    use_reference: bool = False,
    mouth_reference: torch.Tensor | None = None,
) -> torch.Tensor:
    """Generator input (B, 3, 6 or 9, S, S) from uint8 face maps (B, 3, S, S).

    ``reference`` (B, 3, S, S) uint8 and ``lower_mask`` (B, 1, S, S) {0, 1} are
    required with ``use_reference``; masked pixels become 0 (mid grey).
    ``mouth_reference`` (B, 3, S, S) uint8, when given, is appended unmasked: a
    training crop of this speaker with a similar lip shape (teeth, inner mouth).
    """
    parts = [to_signed(face_map)]
    if use_reference:
        if reference is None or lower_mask is None:
            raise ValueError("use_reference needs the reference crops and their lower-face masks")
        keep = 1.0 - lower_mask.to(parts[0].dtype).clamp(0, 1)
        parts.append(to_signed(reference) * keep)
    if mouth_reference is not None:
        parts.append(to_signed(mouth_reference))
    return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]

"""Visemes: classes of phones that look alike on the lips, sampled at any timestamps.

Twelve classes, a common lip-reading grouping of the 39 CMU phones (the
brief's table), with the expected mouth opening of each (0 closed, 1 widest):

=====  ========  ===========================  ========  =========================================
id     name      phones                       OPENNESS  why
=====  ========  ===========================  ========  =========================================
0      sil       SIL (silence, noise)         0.00      lips at rest, closed
1      PBM       P B M                        0.00      lips pressed together (the bilabial closure)
2      FV        F V                          0.15      lower lip against the upper teeth
3      TH        TH DH                        0.30      tongue tip between slightly parted teeth
4      TDNL      T D N L                      0.35      tongue on the ridge, jaw half closed
5      SZ        S Z                          0.20      teeth almost together, lips spread
6      SH        SH ZH CH JH                  0.30      lips pushed forward, teeth close
7      KG        K G NG HH Y                  0.45      tongue back; the lips take the next vowel's
                                                      shape (HH, Y), so a middle value
8      R         R ER                         0.35      lips slightly rounded, jaw half closed
9      rounded   W UW UH OW OY                0.40      lips rounded: small for W/UW, larger for OW
10     open      AA AE AH AO AW AY            1.00      jaw dropped: the widest openings
11     spread    EH EY IH IY                  0.55      lips spread, jaw mid (IY least, EH most)
=====  ========  ===========================  ========  =========================================

The values are phonetic expectations on a relative scale, not measurements;
they give a rough target for the mouth opening (0 must mean closed for P/B/M,
which the sync checks rely on). Time sampling uses half-open phone intervals
[start, end): a time on a boundary belongs to the later phone.
"""

from __future__ import annotations

import numpy as np

from landmarks.phones import Phones

VISEMES: tuple[str, ...] = ("sil", "PBM", "FV", "TH", "TDNL", "SZ", "SH", "KG", "R", "rounded", "open", "spread")

_GROUPS: dict[str, tuple[str, ...]] = {
    "sil": ("SIL",),
    "PBM": ("P", "B", "M"),
    "FV": ("F", "V"),
    "TH": ("TH", "DH"),
    "TDNL": ("T", "D", "N", "L"),
    "SZ": ("S", "Z"),
    "SH": ("SH", "ZH", "CH", "JH"),
    "KG": ("K", "G", "NG", "HH", "Y"),
    "R": ("R", "ER"),
    "rounded": ("W", "UW", "UH", "OW", "OY"),
    "open": ("AA", "AE", "AH", "AO", "AW", "AY"),
    "spread": ("EH", "EY", "IH", "IY"),
}

PHONE_TO_VISEME: dict[str, int] = {p: VISEMES.index(v) for v, phones in _GROUPS.items() for p in phones}

OPENNESS: np.ndarray = np.array([0.0, 0.0, 0.15, 0.30, 0.35, 0.20, 0.30, 0.45, 0.35, 0.40, 1.0, 0.55], np.float32)

BILABIAL: int = VISEMES.index("PBM")


def label_ids(labels: list[str]) -> np.ndarray:
    """(n,) int64 viseme id of each phone label; stress digits ignored, unknown labels -> sil."""
    return np.array([PHONE_TO_VISEME.get(label.rstrip("012").upper(), 0) for label in labels], np.int64)


def viseme_ids(phones: Phones, times: np.ndarray) -> np.ndarray:
    """(T,) int64 class id of the phone covering each time in seconds; 'sil' (0) outside any phone.

    Phone i covers [start_s[i], end_s[i]); phones must be sorted by start and not overlap.
    """
    # Boundaries and feature steps both fall on 10 ms multiples; a microsecond nudge makes exact
    # ties resolve the same way however the times were shifted (speak's chunks, A/V offsets).
    times = np.asarray(times, np.float64) + 1e-6
    out = np.zeros(times.shape, np.int64)
    if len(phones) == 0:
        return out
    i = np.searchsorted(phones.start_s, times, side="right") - 1
    inside = (i >= 0) & (times < phones.end_s[np.clip(i, 0, None)])
    out[inside] = label_ids(phones.labels)[i[inside]]
    return out


def one_hot(phones: Phones, times: np.ndarray) -> np.ndarray:
    """(T, len(VISEMES)) float32 one-hot of the viseme at each time in seconds."""
    return np.eye(len(VISEMES), dtype=np.float32)[viseme_ids(phones, times)]


def openness(phones: Phones, times: np.ndarray) -> np.ndarray:
    """(T,) float32 OPENNESS of the viseme at each time in seconds (0 outside any phone)."""
    return OPENNESS[viseme_ids(phones, times)]


def bilabial_intervals(phones: Phones) -> list[tuple[float, float]]:
    """(start_s, end_s) of each P/B/M phone: times when the lips should be closed."""
    ids = label_ids(phones.labels)
    return [(float(s), float(e)) for s, e, v in zip(phones.start_s, phones.end_s, ids, strict=True) if v == BILABIAL]

"""DeepGRU: a bidirectional GRU from a box's dirty spectrum to an emission probability per channel.

As in the study: one bidirectional GRU layer and a linear layer to one
sigmoid output per channel (``forward`` returns the logit), trained against
the min-max-normalised spectrum of the sky model in the same box. The loss
is binary cross-entropy with these soft targets instead of the study's L1:
most channels hold no line, L1's best constant answer is then 0 and training
stalls there with a saturated sigmoid. Two more changes, both because a box
may hold no line at all (a false blob):

* the input carries the noise-stretched spectrum besides the min-max one
  (see :mod:`.preprocess`), so noise no longer looks like a line;
* the target's range is floored at ``NOISE_FLOOR`` times the box spectrum's
  noise, so a line reaches probability 1 only when it stands that far above
  the noise and an empty box has a flat zero target instead of amplified
  wings of a neighbour.

Lines are the peaks of the probability (height above the mean, prominence,
separation as in the study), each fitted with a Gaussian over +-``half_width``
channels: centre z and FWHM; the line's range is z +- FWHM.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import curve_fit
from scipy.signal import find_peaks
from torch import nn

from ..units import FWHM_TO_SIGMA
from .geometry import box_slices
from .preprocess import robust_rms, two_channel

IN_FEATURES = 2
NOISE_FLOOR = 3.0


class DeepGRU(nn.Module):
    def __init__(self, hidden: int = 32):
        super().__init__()
        self.config = {"hidden": hidden}
        self.gru = nn.GRU(IN_FEATURES, hidden, num_layers=1, batch_first=True, bidirectional=True)
        self.linear = nn.Linear(2 * hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, nchan, 2) inputs -> (N, nchan, 1) logits."""
        return self.linear(self.gru(x)[0])


def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, target)


def box_spectrum(cube: np.ndarray, box) -> np.ndarray:
    """Sum over the box's pixels, per channel."""
    ys, xs = box_slices(box)
    return cube[:, ys, xs].sum(axis=(1, 2))


def spectrum_rms(spectrum: np.ndarray) -> float:
    """Per-channel noise of a spectrum from its channel-to-channel differences (blind to continuum and lines)."""
    return robust_rms(np.diff(spectrum)) / np.sqrt(2)


def inputs(spectra: np.ndarray) -> torch.Tensor:
    """(N, nchan) dirty spectra -> (N, nchan, 2) network inputs."""
    return torch.from_numpy(np.stack([two_channel(s, spectrum_rms(s)).T for s in spectra]))


def target(model_spectrum: np.ndarray, dirty_spectrum: np.ndarray, beam_area: float) -> np.ndarray:
    """Emission target of a box: the sky-model spectrum minus its minimum, over max(range, floor).

    The floor is ``NOISE_FLOOR`` times the dirty spectrum's noise, converted
    from Jy/beam x pixels to Jy with the beam area (pixels).
    """
    m = np.asarray(model_spectrum, dtype=float) - np.min(model_spectrum)
    floor = NOISE_FLOOR * spectrum_rms(dirty_spectrum) / beam_area
    scale = max(float(m.max()), floor)
    return (m / scale).astype(np.float32) if scale > 0 else np.zeros_like(m, dtype=np.float32)


def probability(model: DeepGRU, spectra: np.ndarray, device, batch_size: int = 256) -> np.ndarray:
    """Emission probability (N, nchan) of dirty spectra."""
    spectra = np.asarray(spectra, dtype=float)
    out = np.empty(spectra.shape, dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(spectra), batch_size):
            x = inputs(spectra[start:start + batch_size]).to(device)
            out[start:start + batch_size] = torch.sigmoid(model(x))[..., 0].cpu().numpy()
    return out


def _gaussian(x, amplitude, centre, sigma):
    return amplitude * np.exp(-0.5 * ((x - centre) / sigma) ** 2)


def find_lines(prob: np.ndarray, height: float = 0.1, prominence: float = 0.05, distance: int = 10,
               half_width: int = 10) -> list[dict]:
    """Lines ``{"centre", "fwhm", "height"}`` (channels) of an emission probability, highest first.

    Peaks must rise ``height`` above the mean, have the given prominence and
    lie ``distance`` channels apart; each is fitted with a Gaussian over
    +-``half_width`` channels and kept if the fit converges to a FWHM
    shorter than the band with its centre inside it.
    """
    prob = np.asarray(prob, dtype=float)
    nchan = prob.size
    peaks, props = find_peaks(prob, height=prob.mean() + height, prominence=prominence, distance=distance)
    lines = []
    for p, h in zip(peaks, props["peak_heights"]):
        lo, hi = max(p - half_width, 0), min(p + half_width + 1, nchan)
        x = np.arange(lo, hi, dtype=float)
        try:
            (_, centre, sigma), _ = curve_fit(_gaussian, x, prob[lo:hi], p0=(h, p, 2.0),
                                              bounds=([0, lo, 0.3], [np.inf, hi - 1, nchan]))
        except (RuntimeError, ValueError):
            continue
        fwhm = abs(sigma) / FWHM_TO_SIGMA
        if 0 < fwhm < nchan and 0 <= centre <= nchan - 1:
            lines.append({"centre": float(centre), "fwhm": float(fwhm), "height": float(h)})
    return sorted(lines, key=lambda line: -line["height"])

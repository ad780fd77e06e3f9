"""Sky prior: a log-normal correlated field, optionally plus point sources.

The diffuse sky is exp of a ``SimpleCorrelatedField`` in ln(Jy/sr) (sr, not
pixels, so that the hyperparameters do not depend on the pixel size). It lives
on a grid ``padding`` times larger than the image and is cropped to it: the
field is periodic, and the padding keeps emission at one edge from leaking
into the opposite one. Its six hyperparameters follow the study's naming:
offset (the mean of ln I), zero mode, fluctuations, slope (of the log-log
power spectrum), flexibility and asperity, each a (mean, std) pair except the
fixed offset. Point sources, for bright compact emission, get an
inverse-gamma prior per pixel.

A signed sky (``prior['absorption']['enabled']``) subtracts a second log-normal field
with its own hyperparameters: I = exp(s) - exp(a). Emission and absorption
(a Sunyaev-Zel'dovich decrement, absorption against a continuum) each keep
a positivity prior on their own scales, where one Gaussian field for both
would let noise of either sign in everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import nifty8 as ift
import numpy as np

from ..units import ARCSEC
from .response import image_domain

PREFIX = "sky_"


@dataclass(frozen=True)
class SkyModel:
    """Operators of the latent parameters: the sky and what the products report about it."""

    sky: ift.Operator                 # Jy/sr on the image grid
    power_spectrum: ift.Operator      # of ln I, on the padded grid's power space (k in wavelengths)
    hyperparameters: dict             # name -> (operator, prior description)
    domain: ift.RGSpace               # image grid


def padded_size(npix: int, padding: float) -> int:
    return int(2 * np.ceil(npix * padding / 2))


ABSORPTION_PREFIX = "absorption_"


def _log_field(padded: ift.RGSpace, prior: dict, prefix: str, label: str, symbol: str = "I"):
    """A correlated field in ln(Jy/sr) and its hyperparameter operators (names prefixed by ``label``; ``symbol``
    the brightness whose log it is)."""
    field = ift.SimpleCorrelatedField(
        padded, offset_mean=prior["offset"], offset_std=prior["zero_mode"], fluctuations=prior["fluctuations"],
        flexibility=prior["flexibility"], asperity=prior["asperity"], loglogavgslope=prior["slope"], prefix=prefix)
    mean_log = ift.ContractionOperator(padded, None).scale(1.0 / padded.size) @ field
    hyper = {f"{label}offset (mean of ln {symbol}/(Jy/sr))": (mean_log, f"{prior['offset']:g}")}
    transforms = [("zero mode", "zeromode", prior["zero_mode"], ift.LognormalTransform),
                  ("fluctuations", "fluctuations", prior["fluctuations"], ift.LognormalTransform),
                  ("slope", "loglogavgslope", prior["slope"], ift.NormalTransform),
                  ("flexibility", "flexibility", prior["flexibility"], ift.LognormalTransform),
                  ("asperity", "asperity", prior["asperity"], ift.LognormalTransform)]
    for name, key, mean_std, transform in transforms:
        if mean_std is not None:
            hyper[label + name] = (transform(*mean_std, prefix + key, 0), f"{mean_std[0]:g} +- {mean_std[1]:g}")
    return field, hyper


def signed(prior: dict) -> bool:
    """Whether the sky prior subtracts an absorption field (``absorption.enabled``)."""
    return bool(prior.get("absorption", {}).get("enabled"))


def sky_model(npix: int, cell_arcsec: float, padding: float, prior: dict) -> SkyModel:
    """Log-normal correlated field (plus inverse-gamma point sources if ``prior['point_sources']``, minus a
    log-normal absorption field if :func:`signed`)."""
    domain = image_domain(npix, cell_arcsec)
    n = padded_size(npix, padding)
    padded = ift.RGSpace((n, n), distances=domain.distances)
    field, hyper = _log_field(padded, prior, PREFIX, "")
    crop = ift.FieldZeroPadder(domain, (n, n)).adjoint
    sky = crop @ field.exp()
    if signed(prior):
        absorption, more = _log_field(padded, prior["absorption"], ABSORPTION_PREFIX, "absorption ", "A")
        sky = sky - crop @ absorption.exp()
        hyper.update(more)
    points = prior["point_sources"]
    if points["q_jy_per_pixel"] is not None:
        pixel_sr = (cell_arcsec * ARCSEC) ** 2
        q = points["q_jy_per_pixel"] / pixel_sr
        sky = sky + ift.InverseGammaOperator(domain, alpha=points["alpha"], q=q).ducktape("points")
    return SkyModel(sky=sky, power_spectrum=field.power_spectrum, hyperparameters=hyper, domain=domain)

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

A cube (``nplanes > 1``, one plane per channel) is one log-normal field over
frequency x sky whose power spectrum is the outer product of a spectral and a
spatial one (NIFTy's ``CorrelatedFieldMaker`` with two subdomains): lines and
continuum are both structure along the frequency axis, so one field carries
both, learns how smooth the spectra are (``prior['spectral']``) and needs no
model of which sources have lines. Padded on both axes, cropped to the cube.
"""

from __future__ import annotations

from dataclasses import dataclass

import nifty8 as ift
import numpy as np

from ..units import ARCSEC
from . import settings
from .settings import signed
from .response import image_domain

PREFIX = "sky_"


@dataclass(frozen=True)
class SkyModel:
    """Operators of the latent parameters: the sky and what the products report about it."""

    sky: ift.Operator                 # Jy/sr on the image grid (a cube: channel x image grid)
    power_spectrum: ift.Operator      # of ln I (a cube: its spatial factor), on the padded grid's power space
    hyperparameters: dict             # name -> (operator, prior description)
    domain: ift.DomainTuple           # image grid, or (channels, image grid)


def padded_size(npix: int, padding: float) -> int:
    return int(2 * np.ceil(npix * padding / 2))


ABSORPTION_PREFIX = "absorption_"


# (table row, config key, NIFTy parameter name, transform) of a correlated field's hyperparameters
_HYPER = (("zero mode", "zero_mode", "zeromode", ift.LognormalTransform),
          ("fluctuations", "fluctuations", "fluctuations", ift.LognormalTransform),
          ("slope", "slope", "loglogavgslope", ift.NormalTransform),
          ("flexibility", "flexibility", "flexibility", ift.LognormalTransform),
          ("asperity", "asperity", "asperity", ift.LognormalTransform))


def _hyperparameters(values: dict, prefix: str, label: str, keys) -> dict:
    """Row name -> (operator, prior) of the config ``keys`` of ``values`` that are set, as NIFTy names them
    under ``prefix``."""
    return {label + row: (transform(*values[key], prefix + param, 0), f"{values[key][0]:g} +- {values[key][1]:g}")
            for row, key, param, transform in _HYPER if key in keys and values[key] is not None}


def _log_field(padded: ift.RGSpace, prior: dict, prefix: str, label: str, symbol: str = "I"):
    """A correlated field in ln(Jy/sr) and its hyperparameter operators (names prefixed by ``label``; ``symbol``
    the brightness whose log it is)."""
    field = ift.SimpleCorrelatedField(
        padded, offset_mean=prior["offset"], offset_std=prior["zero_mode"], fluctuations=prior["fluctuations"],
        flexibility=prior["flexibility"], asperity=prior["asperity"], loglogavgslope=prior["slope"], prefix=prefix)
    mean_log = ift.ContractionOperator(padded, None).scale(1.0 / padded.size) @ field
    hyper = {f"{label}offset (mean of ln {symbol}/(Jy/sr))": (mean_log, f"{prior['offset']:g}")}
    hyper.update(_hyperparameters(prior, prefix, label, [key for _, key, _, _ in _HYPER]))
    return field, hyper


def _cube_log_field(spectral: ift.RGSpace, padded: ift.RGSpace, prior: dict):
    """ln I over (frequency, sky): a correlated field with a spectral and a spatial power spectrum, its
    spatial power spectrum and its hyperparameter operators."""
    maker = ift.CorrelatedFieldMaker(PREFIX)
    shape = prior["spectral"]
    maker.add_fluctuations(spectral, fluctuations=shape["fluctuations"], flexibility=shape["flexibility"],
                           asperity=shape["asperity"], loglogavgslope=shape["slope"], prefix="spectral_")
    maker.add_fluctuations(padded, fluctuations=prior["fluctuations"], flexibility=prior["flexibility"],
                           asperity=prior["asperity"], loglogavgslope=prior["slope"], prefix="spatial_")
    maker.set_amplitude_total_offset(prior["offset"], prior["zero_mode"])
    field = maker.finalize(prior_info=0)
    amplitude = maker.get_normalized_amplitudes()[1]
    zero_mode = ift.ContractionOperator(amplitude.target, None).adjoint @ maker.amplitude_total_offset
    mean_log = ift.ContractionOperator(field.target, None).scale(1.0 / field.target.size) @ field
    hyper = {"offset (mean of ln I/(Jy/sr))": (mean_log, f"{prior['offset']:g}")}
    shape_keys = ("fluctuations", "slope", "flexibility", "asperity")
    hyper.update(_hyperparameters(prior, PREFIX, "", ("zero_mode",)))
    hyper.update(_hyperparameters(shape, PREFIX + "spectral_", "spectral ", shape_keys))
    hyper.update(_hyperparameters(prior, PREFIX + "spatial_", "", shape_keys))
    return field, (amplitude * zero_mode) ** 2, hyper


def sky_model(npix: int, cell_arcsec: float, padding: float, prior: dict, nplanes: int = 1,
              channel_width_hz: float = 1.0) -> SkyModel:
    """Log-normal correlated field (plus inverse-gamma point sources if ``prior['point_sources']``, minus a
    log-normal absorption field if :func:`signed`); ``nplanes > 1``: a cube of that many channels."""
    image = image_domain(npix, cell_arcsec)
    n = padded_size(npix, padding)
    padded = ift.RGSpace((n, n), distances=image.distances)
    if nplanes > 1:
        if settings.sky_signed_or_points(prior):
            raise ValueError("a cube's sky is one log-normal field: sky.absorption and sky.point_sources are "
                             "for images of one plane")
        m = padded_size(nplanes, padding)
        field, power, hyper = _cube_log_field(ift.RGSpace(m, distances=channel_width_hz), padded, prior)
        domain = ift.DomainTuple.make((ift.RGSpace(nplanes, distances=channel_width_hz), image))
        crop = (ift.FieldZeroPadder(domain, (m,), space=0).adjoint
                @ ift.FieldZeroPadder(ift.DomainTuple.make((field.target[0], image)), (n, n), space=1).adjoint)
        return SkyModel(sky=crop @ field.exp(), power_spectrum=power, hyperparameters=hyper, domain=domain)
    domain = ift.DomainTuple.make(image)
    field, hyper = _log_field(padded, prior, PREFIX, "")
    crop = ift.FieldZeroPadder(image, (n, n)).adjoint
    sky = crop @ field.exp()
    if signed(prior):
        absorption, more = _log_field(padded, prior["absorption"], ABSORPTION_PREFIX, "absorption ", "A")
        sky = sky - crop @ absorption.exp()
        hyper.update(more)
    points = prior["point_sources"]
    if points["q_jy_per_pixel"] is not None:
        pixel_sr = (cell_arcsec * ARCSEC) ** 2
        q = points["q_jy_per_pixel"] / pixel_sr
        sky = sky + ift.InverseGammaOperator(image, alpha=points["alpha"], q=q).ducktape("points")
    return SkyModel(sky=sky, power_spectrum=field.power_spectrum, hyperparameters=hyper, domain=domain)

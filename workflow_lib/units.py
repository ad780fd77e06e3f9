"""Physical and angular constants, each defined once for the whole package."""

import numpy as np

C_LIGHT = 299_792_458.0                     # m/s
ARCSEC = np.pi / 180.0 / 3600.0             # radians per arcsec
RAD_TO_ARCSEC = 180.0 / np.pi * 3600.0      # arcsec per radian
FWHM_TO_SIGMA = 1.0 / np.sqrt(8.0 * np.log(2.0))
GAUSSIAN_AREA_PER_FWHM = float(np.sqrt(np.pi / (4 * np.log(2))))  # integral of a unit-peak 1-D Gaussian / FWHM

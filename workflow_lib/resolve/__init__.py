"""RESOLVE: Bayesian imaging of calibrated visibilities with NIFTy and ducc0.

``observation`` reads a measurement set into Stokes I visibilities,
``response`` maps sky images to visibilities (exactly, or in the image domain),
``sky`` and ``noise`` hold the priors, ``likelihood`` joins them, ``inference``
runs ``optimize_kl``, ``products`` writes the posterior, ``diagnostics`` checks
its fit at the uv points and stops a diverged run, ``steps`` holds what the rules
run (one run from measurement set to products), ``compare`` puts it next to
tCLEAN, ``archive`` fetches data and ``settings`` checks the config section and
names the products.
"""

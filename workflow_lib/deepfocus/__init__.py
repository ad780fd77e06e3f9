"""DeepFocus: detection and characterisation of line sources in dirty cubes with deep learning.

Stages (one module each): ``blobsfinder`` (2-D source probability map of the
integrated image, islands and boxes), ``deepgru`` (emission probability of
box spectra, line peaks), ``focusing`` (spectral focusing, SNRs, false
positives, deblending, continuum separation), ``resnets`` (sizes, position
angle and flux from focused images), ``pipeline`` (batched inference,
catalogue, FITS products). ``geometry`` holds the one definition of a
source's extent shared by training targets, detections and evaluation;
``train`` the training loop every model uses; ``trainsets`` what each model
is trained on.
"""

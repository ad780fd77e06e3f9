"""What if each Blobs Finder tile of a larger field lost the sidelobes of the bright sources beyond its edge?

benchmarks/deepfocus_fields.md finds that the neighbours outside a tile cost the Blobs Finder a third of its
faint detections. This what-if, on a ducc dataset with its PSF (not a product: the pipeline reads no PSF),
CLEANs the integrated dirty image of the whole field (Hogbom, point components, down to ``--clean-sigma``
times its robust RMS, with the channel-mean PSF), and gives the Blobs Finder, for every tile, the tile minus
the PSF-convolved components that lie outside it: the tile as a training tile looks, its own sources and their
sidelobes kept. Everything after the Blobs Finder reads the cube as it is. Prints the stage-loss table:

    python benchmarks/deepfocus_outside_sidelobes.py --manifest results/fields_wide/dataset/manifest.json
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from workflow_lib.dataset.torch_dataset import CubeDataset
from workflow_lib.deepfocus import blobsfinder
from workflow_lib.deepfocus.preprocess import robust_rms

from deepfocus_fields import stage_losses


def place(psf: np.ndarray, y: int, x: int, shape: tuple[int, int]) -> np.ndarray:
    """``psf`` (peak at its centre pixel ``n // 2``) moved to peak at pixel (y, x) of an image of ``shape``,
    cut to it (what lies beyond the PSF's own extent is zero)."""
    out = np.zeros(shape)
    cy, cx = psf.shape[0] // 2, psf.shape[1] // 2
    y0, x0 = max(y - cy, 0), max(x - cx, 0)
    y1, x1 = min(y - cy + psf.shape[0], shape[0]), min(x - cx + psf.shape[1], shape[1])
    out[y0:y1, x0:x1] = psf[y0 - y + cy:y1 - y + cy, x0 - x + cx:x1 - x + cx]
    return out


def hogbom(image: np.ndarray, psf: np.ndarray, threshold: float, gain: float = 0.2, max_iter: int = 2000):
    """Point components ``[(y, x, flux)]`` of ``image`` down to a residual peak of ``threshold``."""
    residual, components = image.astype(float).copy(), []
    for _ in range(max_iter):
        y, x = np.unravel_index(np.argmax(residual), residual.shape)
        if residual[y, x] < threshold:
            break
        flux = gain * residual[y, x]
        residual -= flux * place(psf, y, x, residual.shape)
        components.append((y, x, flux))
    return components


def without_outside_sidelobes(psf: np.ndarray, clean_sigma: float):
    """A stand-in for :func:`blobsfinder.probability` that removes, tile by tile, the components outside."""
    def probability(model, images, device, batch_size: int = 64):
        size = model.size
        maps = []
        for image in np.asarray(images, dtype=float):
            ny, nx = image.shape
            components = hogbom(image, psf, clean_sigma * robust_rms(image))
            prob = np.zeros((ny, nx), dtype=np.float32)
            for y0 in blobsfinder._tile_starts(ny, size):
                for x0 in blobsfinder._tile_starts(nx, size):
                    tile = image.copy()
                    for y, x, flux in components:
                        if not (y0 <= y < y0 + size and x0 <= x < x0 + size):
                            tile -= flux * place(psf, y, x, image.shape)
                    with torch.no_grad():
                        p = torch.sigmoid(model(blobsfinder.inputs(tile[None, y0:y0 + size, x0:x0 + size])
                                                .to(device)))[0, 0].cpu().numpy()
                    prob[y0:y0 + size, x0:x0 + size] = np.maximum(prob[y0:y0 + size, x0:x0 + size], p)
            maps.append(prob)
        return np.stack(maps)
    return probability


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="config/config.yaml", help="config (or overlay) of the run whose models score")
    parser.add_argument("--manifest", required=True, help="manifest.json of a dataset of fields larger than a tile")
    parser.add_argument("--clean-sigma", type=float, default=10.0, help="CLEAN down to this many robust RMS")
    args = parser.parse_args()
    psf = CubeDataset(args.manifest, "test", ("dirty",)).shared("psf").mean(axis=0)
    blobsfinder.probability = without_outside_sidelobes(psf / psf.max(), args.clean_sigma)
    table = stage_losses(args.config, args.manifest)
    table.round(3)
    table.pprint_all()


if __name__ == "__main__":
    main()

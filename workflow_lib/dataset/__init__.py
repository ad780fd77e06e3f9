"""The simulated training set: HDF5 shards of dirty/model cubes, manifest, 60-20-20 split, PyTorch Dataset."""

"""Evaluation of DeepFocus on the test split: matching, completeness/contamination, PyBDSF and tCLEAN baselines."""

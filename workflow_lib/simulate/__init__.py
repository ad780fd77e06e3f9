"""Simulated ALMA observations: CASA's simobserve (reference) and thermal noise."""

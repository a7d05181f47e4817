"""Fitness recipe: deep mutational scans (ProteinGym layout) as regression and binary benchmark datasets."""

"""Experiments as configs: the config, the runner and its metrics, sweeps on Dask, the validity map, the claims, reproduction, files."""

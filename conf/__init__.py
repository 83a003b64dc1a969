"""Hydra configs (a package so installed console scripts can find them)."""

"""Datasets: sources, the simulation, preprocessing, and the dataset contract."""

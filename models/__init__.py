"""Model plugins: one folder per model (model.yaml + model.py)."""

"""Labels from inspections, out-of-time splits, weighting, evaluation, MLflow runs and promotion."""

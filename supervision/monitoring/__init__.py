"""Risk monitoring of the score runs: early warning (信用风险预警, :mod:`supervision.monitoring.warnings`)."""

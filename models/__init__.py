"""The fitted risk model as one object: LightGBM, calibration, tier policy and explanations."""

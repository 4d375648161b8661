"""Double-random sampling (双随机、一公开): tasks, the draw, inspector assignment, results, estimates,
exports."""

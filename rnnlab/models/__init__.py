"""PyTorch models, one module per task type."""

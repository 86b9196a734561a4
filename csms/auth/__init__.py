"""Station authentication: one module per HTTP scheme, plus key storage and challenges."""

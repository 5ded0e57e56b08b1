"""The training loop and its parts: optimiser, train state, jitted steps, checkpoints, logs."""

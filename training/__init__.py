"""The training loop and its parts: optimiser, train state, jitted steps (checkpoints, mesh and
run files are in runtime/, shared with evaluate/; training never imports evaluate/)."""

"""What test tooling needs from the engine: the control API's shared state (faults, config overlays, the request log)
and record/replay of real traffic."""

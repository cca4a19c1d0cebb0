"""Writes of the analysis app, one module per concept; import from the module that owns the function."""

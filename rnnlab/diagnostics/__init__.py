"""Diagnostics: gradient flow through time, Jacobians, the scalar vanishing-gradient model,
the init-scale experiment, parameter and memory calculators, and their plots.

Import the submodule you need (for example `rnnlab.diagnostics.gradflow`); this package imports
nothing itself, so that each diagnostic loads only what it uses.
"""

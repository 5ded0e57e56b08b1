"""Families of runs from one config: expansion, running (resumable, failure-tolerant), collection.

  python sweep.py --config configs/sweeps/augment_range.py --workdir runs/augsweep

A sweep config (sweeps.config) holds a whole base run config and the settings to vary;
sweeps.spec expands it into members, sweeps.runner trains and evaluates each in its own
sub-workdir, sweeps.collect gathers them into summary.csv, summary.md and plots. sweeps.budget
sizes sweeps to a time budget, and sweeps.paper_scale (`python -m sweeps.paper_scale`) drives
the study's sweeps at paper scale with it.
"""
from sweeps.config import default_sweep_config
from sweeps.spec import SweepMember, expand_sweep

__all__ = ["SweepMember", "default_sweep_config", "expand_sweep"]

"""Moved to icl_ood.families (2026-12-07); this name stays for plug-ins written before."""

from icl_ood.families import *  # noqa: F403
from icl_ood.families import Family, Gaussian, NoPrior, NotApplicable, get, names, register  # noqa: F401

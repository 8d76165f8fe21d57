"""MBG/NBD — Batislam, Denizel & Filiztekin (2007), IJRM 24(3); Wagner & Hoppe (2008) erratum.

BG/NBD where a customer may also drop out at time 0: given x purchases p ~ Beta(a, b + x + 1), so every
expression of ``BGNBDModel`` holds with that shift; lifetimes' ``ModifiedBetaGeoFitter`` does the rest.
"""

from __future__ import annotations

from churnkit.models.btyd.bgnbd import BGNBDModel


class MBGNBDModel(BGNBDModel):
    """MBG/NBD purchases: BG/NBD with a dropout chance at the first purchase too."""

    name = "mbgnbd"
    label = "MBG/NBD"
    _fitter_name = "ModifiedBetaGeoFitter"
    _beta_shift = 1.0

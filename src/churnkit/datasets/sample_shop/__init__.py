"""Synthetic sample shop: a seeded non-contractual retailer for the demo, the docs and model tests.

The shop is generated from a latent process whose ground truth is returned beside the data, so tests
can check that models recover what was put in:

* **Acquisition**: first purchases spread over the period, growing over time, with a marketing campaign
  and the same calendar seasonality as purchases.
* **Purchases** (MBG/NBD-like, Batislam et al. 2007): while alive a customer buys as a Poisson process
  with rate ``lambda ~ Gamma(r, alpha)``; after every purchase (including the first) they drop out with
  probability ``p ~ Beta(a, b)``. Weekday and yearly seasonality (a November-December peak) are added by
  thinning, normalised so the mean rate stays ``lambda``. The latent dropout date falls inside the
  would-be next inter-purchase gap.
* **Spend** (Gamma-Gamma-like, Fader, Hardie & Lee 2005): order value ``z ~ Gamma(p, nu)`` with
  ``nu ~ Gamma(q, v)`` per customer, a few high-value customers, split into 1-4 order lines priced
  from a product catalogue; ~4% of orders get a return a few days later (negative rows).
* **Browsing**: a session before every online order (page_view -> product_view -> add_to_cart ->
  checkout -> purchase, the purchase event at the order's timestamp), research sessions in the days
  before some orders, and background visits while alive whose rate decays over the 60-120 days before
  the dropout date while cart abandonment and checkout drop-off rise; after dropout a minority keeps a
  fading residual. A few prospects only browse; a handful of accounts never do anything.

Everything is vectorised numpy (loops only over a few steps or over purchase rounds), seeded through
one ``numpy.random.SeedSequence``, so the same seed gives identical frames and byte-identical files.
"""

from churnkit.datasets.sample_shop.files import write_shop
from churnkit.datasets.sample_shop.future import simulate_future
from churnkit.datasets.sample_shop.shop import SampleShop, generate_shop

__all__ = ["SampleShop", "generate_shop", "simulate_future", "write_shop"]

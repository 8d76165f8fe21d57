"""The latent process's parameters and the shop's fixed vocabularies and calendar weights (time unit: days)."""

from __future__ import annotations

import numpy as np

from churnkit.data.schema import EVENT_TYPES

__all__ = [
    "ACQ_CHANNELS",
    "ACQ_LOGIT",
    "ACQ_P_EFFECT",
    "CHANNELS",
    "CHANNEL_P",
    "COUNTRIES",
    "COUNTRY_P",
    "DAY",
    "DEVICES",
    "HOURS_ONLINE",
    "HOURS_STORE",
    "LOOKAHEAD_DAYS",
    "MONTH_BUY",
    "N_PRODUCTS",
    "PARAMS",
    "STAGES",
    "STAGE_TYPE",
    "WEEKDAY_BROWSE",
    "WEEKDAY_BUY",
]


DAY = 86_400  # seconds

# ---- latent process parameters (time unit: days) -------------------------------------------------
PARAMS: dict[str, float] = {
    "r": 0.8,  # purchase rate lambda ~ Gamma(shape r, rate alpha), per day
    "alpha": 32.0,
    "a": 0.8,  # dropout probability p ~ Beta(a, b), after every purchase
    "b": 0.8,
    "p": 5.0,  # order value z ~ Gamma(shape p, rate nu), nu ~ Gamma(shape q, rate v) (lifetimes' names)
    "q": 3.5,
    "v": 30.0,
    "lambda_max": 0.25,  # cap on the purchase rate: at most one order every four days on average
    "vip_share": 0.01,  # high-value customers whose spend is multiplied by vip_factor
    "vip_factor": 4.0,
    "return_share": 0.04,  # orders followed by a return
    "browse_rate": 0.06,  # mean background sessions per day while alive (before channel adjustments)
    "browse_lambda_power": 0.5,  # browsing rises with the purchase rate: rate ~ (lambda / mean) ** power
    "research_share": 0.5,  # online orders preceded by a research session ...
    "research_days": 10.0,  # ... up to this many days before
    "store_browse_factor": 0.35,  # store shoppers browse online this much less
    "decay_min_days": 60.0,  # background visits decay over U(min, max) days before dropout ...
    "decay_max_days": 120.0,
    "decay_floor": 0.1,  # ... down to this fraction of the normal rate
    "residual_share": 0.2,  # share of dropped-out customers who keep visiting a little
    "residual_level": 0.15,  # their visit rate right after dropout, fading with residual_days
    "residual_days": 90.0,
    "prospect_share": 0.06,  # browsing-only visitors, relative to n_customers
    "inactive_share": 0.004,  # accounts with no activity at all
}
LOOKAHEAD_DAYS = 180  # simulate past the end so dropouts just after it already foreshadow in browsing

CHANNELS = ("web", "app", "store")
CHANNEL_P = np.array([0.55, 0.27, 0.18])
DEVICES = ("desktop", "mobile", "tablet")
COUNTRIES = ("DE", "FR", "GB", "NL", "ES", "IT", "BE")
COUNTRY_P = np.array([0.30, 0.17, 0.15, 0.12, 0.10, 0.10, 0.06])
ACQ_CHANNELS = ("organic_search", "paid_search", "social", "email", "referral", "direct")
ACQ_LOGIT = np.log(np.array([0.28, 0.22, 0.16, 0.10, 0.09, 0.15]))
ACQ_P_EFFECT = np.array([0.0, 0.35, 0.8, -0.6, -0.4, -0.2])  # logit shift per sd of p: social churns more
N_PRODUCTS = 1200

# Calendar (Monday first). Purchases dip on Friday and Saturday, peak on Sunday and Monday.
WEEKDAY_BUY = np.array([1.10, 1.04, 1.00, 1.00, 0.90, 0.78, 1.18])
MONTH_BUY = np.array([0.95, 0.85, 0.95, 0.95, 0.95, 0.90, 0.85, 0.85, 0.95, 1.00, 1.25, 1.30])
WEEKDAY_BROWSE = np.array([1.06, 1.02, 1.00, 1.00, 0.94, 0.90, 1.08])
# Time of day: hourly weights for online activity and for store opening hours.
HOURS_ONLINE = np.concatenate(
    [
        [0.40, 0.25, 0.15, 0.10, 0.10, 0.15, 0.35, 0.60, 0.80, 0.90, 1.00, 1.10],
        [1.20, 1.15, 1.05, 1.00, 1.00, 1.05, 1.20, 1.45, 1.60, 1.50, 1.10, 0.70],
    ]
)
HOURS_STORE = np.array([1e-9] * 9 + [0.6, 0.9, 1.1, 1.2, 1.0, 0.9, 1.0, 1.2, 1.3, 1.1, 0.7] + [1e-9] * 4)

# Session stages in the order they happen; index into EVENT_TYPES.
STAGES = ("page_view", "search", "product_view", "add_to_cart", "remove_from_cart", "checkout", "purchase")
STAGE_TYPE = np.array([EVENT_TYPES.index(s) for s in STAGES], dtype=np.int8)

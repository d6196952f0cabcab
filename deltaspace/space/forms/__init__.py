"""The functional-form registry: one declaration per form (one file here), one line below.

``FORMS`` is the only list of forms; the `Form` literal, defaults, sampler conditions, counts,
learning rates, merge and export decisions all read it. Registration refuses a non-lowercase
name, a duplicate, and a form that names a site kind, insertion or composition nobody declared.
"""

from __future__ import annotations

from ..compositions import COMPOSITIONS
from ..insertions import INSERTIONS
from .base import FORM_FIELDS, FormInfo, LearningRate, SiteShape, kept_entries
from .bias import BIAS
from .bottleneck import BOTTLENECK
from .compacter import COMPACTER
from .intrinsic import INTRINSIC
from .l0_diff import L0_DIFF
from .loha import LOHA
from .lokr import LOKR
from .lottery_mask import LOTTERY_MASK
from .low_rank import LOW_RANK
from .magnitude_mask import MAGNITUDE_MASK
from .oft import OFT
from .prefix import PREFIX
from .scaling import SCALING
from .vera import VERA
from .weight_adapter import WEIGHT_ADAPTER

SITE_KINDS = ("heads", "sublayer", "weight", "hidden", "embeddings")
FORMS: dict[str, FormInfo] = {}


def register_form(info: FormInfo) -> FormInfo:
    if info.name in FORMS:
        raise ValueError(f"form {info.name!r} is already registered")
    if unknown := set(info.sites) - set(SITE_KINDS):
        raise ValueError(f"form {info.name!r} names unknown site kinds {sorted(unknown)}")
    if unknown := set(info.insertions) - set(INSERTIONS):
        raise ValueError(f"form {info.name!r} names unknown insertions {sorted(unknown)}")
    if unknown := set(info.compositions) - set(COMPOSITIONS):
        raise ValueError(f"form {info.name!r} names unknown compositions {sorted(unknown)}")
    FORMS[info.name] = info
    return info


for _form in (
    BOTTLENECK,
    LOW_RANK,
    PREFIX,
    SCALING,
    BIAS,
    L0_DIFF,
    MAGNITUDE_MASK,
    LOTTERY_MASK,
    WEIGHT_ADAPTER,
    INTRINSIC,
    LOHA,
    LOKR,
    VERA,
    OFT,
    COMPACTER,
):
    register_form(_form)

__all__ = ["FORMS", "FORM_FIELDS", "FormInfo", "LearningRate", "SiteShape", "kept_entries", "register_form"]

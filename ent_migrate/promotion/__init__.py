"""The scheduled cycle-3 promotion: CM2 pupils to their collège's ENT each summer (docs/promotion.md)."""

from __future__ import annotations

from ent_migrate.promotion.config import PromotionConfig, load_promotion_config
from ent_migrate.promotion.engine import Promoter, RunSummary
from ent_migrate.promotion.states import State
from ent_migrate.promotion.store import PromotionStore, Pupil

__all__ = ["Promoter", "PromotionConfig", "PromotionStore", "Pupil", "RunSummary", "State", "load_promotion_config"]

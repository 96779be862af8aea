"""The model catalog: a typed, validated, immutable view of config/models.yaml.

Every model fact (prices, limits, context sizes, token-counting constants, latency) lives in the YAML file; this
package only reads it (loading), checks it (rules) and hands out typed records (model_info).
"""

from . import model_info
from .loading import Catalog
from .model_info import *  # noqa: F403  (the typed records; model_info.__all__ lists them)

__all__ = ["Catalog", *model_info.__all__]

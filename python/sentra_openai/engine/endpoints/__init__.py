"""One module or package per API surface; each registers its routes on the engine with `register(engine)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core import Engine


def register_all(engine: Engine) -> None:
    """Every endpoint's routes, in the order the engine matches them."""
    from . import (
        azure,
        chat,
        completions,
        control,
        conversations,
        embeddings,
        health,
        image_edits,
        images,
        models,
        moderations,
        responses,
    )
    from .responses import compact as responses_compact

    for module in (health, models, chat, responses, completions, embeddings, images, image_edits, moderations,
                   control, responses_compact, conversations, azure):
        module.register(engine)

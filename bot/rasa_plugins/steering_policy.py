"""SteeringPolicy: a request for a callback, a person, windows, stop, restart, erasure, an FAQ,
the 居場所 dates or the 24-hour lines starts that path on the same turn, in every state.

Like the CrisisPolicy, it predicts with confidence 1.0 right after the user's message, at a
priority above the RulePolicy, so an active form can no longer swallow the request as an answer.
The mapping itself is plain Python (bot/domain/steering.py).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.message import Message

from bot.domain.steering import NOT_UNDERSTOOD_ENTITY, steer_action
from bot.rasa_plugins.deterministic_policy import DeterministicPolicy


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT], is_trainable=True)
class SteeringPolicy(DeterministicPolicy):
    METADATA_FILENAME = "steering_policy"

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"priority": 7}

    def action_for(self, message: Message, tracker: DialogueStateTracker) -> Optional[str]:
        not_understood = any(e.get("entity") == NOT_UNDERSTOOD_ENTITY for e in message.entities or [])
        return steer_action(
            message.intent.get("name"),
            tracker.active_loop_name,
            not_understood=not_understood,
            # The erasure's yes/no, or the crisis check (いいえ to 「安全は守られていますか」 is no
            # decline): their own rules answer.
            confirming=bool(tracker.get_slot("delete_pending") or tracker.get_slot("crisis_active")),
        )

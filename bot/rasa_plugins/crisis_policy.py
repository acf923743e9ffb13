"""CrisisPolicy: the crisis reply wins in every dialogue state, including mid-form.

Forms and rules could be interrupted with unhappy-path rules, but only when the form
rejects the message; a crisis message that also fills a slot would slip through. This
policy predicts `action_crisis_support` with confidence 1.0 at a priority above
RulePolicy whenever the user's latest message is a crisis, so nothing can outrank it.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.message import Message

from bot.rasa_plugins.deterministic_policy import DeterministicPolicy

CRISIS_INTENT = "crisis"
CRISIS_ACTION = "action_crisis_support"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT], is_trainable=True)
class CrisisPolicy(DeterministicPolicy):
    METADATA_FILENAME = "crisis_policy"

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"priority": 7, "intent": CRISIS_INTENT, "action": CRISIS_ACTION}

    def action_for(self, message: Message, tracker: DialogueStateTracker) -> Optional[str]:
        return str(self.config["action"]) if message.intent.get("name") == self.config["intent"] else None

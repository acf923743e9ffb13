"""SteeringPolicy: a request for a callback, a person, windows, stop, restart, erasure, an FAQ,
the 居場所 dates or the 24-hour lines starts that path on the same turn, in every state.

Like the CrisisPolicy, it predicts with confidence 1.0 right after the user's message, at a
priority above the RulePolicy, so an active form can no longer swallow the request as an answer.
The mapping itself is plain Python (bot/domain/steering.py).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

from bot.domain.steering import NOT_UNDERSTOOD_ENTITY, steer_action


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT], is_trainable=True)
class SteeringPolicy(Policy):
    """Deterministic: no training data, nothing persisted."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"priority": 7}

    def train(self, training_trackers: List[TrackerWithCachedStates], domain: Domain, **kwargs: Any) -> Resource:
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: Optional[Dict[Text, Any]] = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        probabilities = self._default_predictions(domain)
        steered = False
        if tracker.latest_action_name == ACTION_LISTEN_NAME and tracker.latest_message is not None:
            message = tracker.latest_message
            not_understood = any(e.get("entity") == NOT_UNDERSTOOD_ENTITY for e in message.entities or [])
            action = steer_action(message.intent.get("name"), tracker.active_loop_name, not_understood=not_understood)
            if action and action in domain.action_names_or_texts:
                probabilities[domain.index_for_action(action)] = 1.0
                steered = True
        # The RulePolicy marks an active form's next step as a "no user" prediction, which
        # overrules every prediction from user input; a request must outrank it the same way.
        return self._prediction(probabilities, is_no_user_prediction=steered)

    def _metadata(self) -> Dict[Text, Any]:
        return {"priority": self.priority}

    @classmethod
    def _metadata_filename(cls) -> Text:
        return "steering_policy"

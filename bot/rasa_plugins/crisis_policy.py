"""CrisisPolicy: the crisis reply wins in every dialogue state, including mid-form.

Forms and rules could be interrupted with unhappy-path rules, but only when the form
rejects the message; a crisis message that also fills a slot would slip through. This
policy predicts `action_crisis_support` with confidence 1.0 at a priority above
RulePolicy whenever the user's latest message is a crisis, so nothing can outrank it.
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

CRISIS_INTENT = "crisis"
CRISIS_ACTION = "action_crisis_support"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT], is_trainable=True)
class CrisisPolicy(Policy):
    """Deterministic: no training data, nothing persisted."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"priority": 7, "intent": CRISIS_INTENT, "action": CRISIS_ACTION}

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
        action = self.config["action"]
        crisis = (
            tracker.latest_action_name == ACTION_LISTEN_NAME
            and tracker.latest_message is not None
            and tracker.latest_message.intent.get("name") == self.config["intent"]
            and action in domain.action_names_or_texts
        )
        if crisis:
            probabilities[domain.index_for_action(action)] = 1.0
        # Like an active form's next step (RulePolicy), so that even a form that could read the
        # message as an answer never comes before the lines.
        return self._prediction(probabilities, is_no_user_prediction=crisis)

    def _metadata(self) -> Dict[Text, Any]:
        return {"priority": self.priority}

    @classmethod
    def _metadata_filename(cls) -> Text:
        return "crisis_policy"

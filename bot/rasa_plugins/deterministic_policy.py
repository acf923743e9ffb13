"""DeterministicPolicy: the shared shape of the crisis and steering policies.

Right after the user's message, a subclass names the one action that must come next (or none);
it is predicted with confidence 1.0 and marked like an active form's next step, so neither a form
nor the RulePolicy can outrank it. No training data, nothing persisted but the priority.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.message import Message


class DeterministicPolicy(Policy):
    """Subclasses set METADATA_FILENAME and implement `action_for`."""

    METADATA_FILENAME = "deterministic_policy"

    def action_for(self, message: Message, tracker: DialogueStateTracker) -> Optional[str]:
        """The action the user's latest message must start, or None."""
        raise NotImplementedError

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
        decided = False
        if tracker.latest_action_name == ACTION_LISTEN_NAME and tracker.latest_message is not None:
            action = self.action_for(tracker.latest_message, tracker)
            if action and action in domain.action_names_or_texts:
                probabilities[domain.index_for_action(action)] = 1.0
                decided = True
        # The RulePolicy marks an active form's next step as a "no user" prediction, which
        # overrules every prediction from user input; this one must outrank it the same way.
        return self._prediction(probabilities, is_no_user_prediction=decided)

    def _metadata(self) -> Dict[Text, Any]:
        return {"priority": self.priority}

    @classmethod
    def _metadata_filename(cls) -> Text:
        return cls.METADATA_FILENAME

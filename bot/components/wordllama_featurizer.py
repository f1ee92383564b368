"""Dense NLU features from WordLlama's static token embeddings (issue 14).

Rasa loads this component from `bot/components` (on its PYTHONPATH, set by
`frontdesk.botctl.rasa_environment` and the Makefile). It embeds each message with the same
WordLlama table the knowledge base uses (`knowledge.embeddings`): a 256-d mean of the text's
token rows, read from the `wordllama` wheel's bundled weights, so nothing is downloaded and
nothing heavier than numpy and `tokenizers` runs (about 0.1 ms a message on one core).
Rasa's `LogisticRegressionClassifier` concatenates these sentence features with the sparse
word and character n-gram counts. Sparse counts are exact about spelling; the embedding is
a weak but useful pull toward meaning across words the training data lacks ("schedule a
visit" is nearer "book an appointment" than "what is my balance" is). The choice and its
5-fold and held-out figures are in docs/decisions.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import FEATURIZER_CLASS_ALIAS, TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from knowledge.embeddings import WordLlamaEmbedder


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False
)
class WordLlamaFeaturizer(DenseFeaturizer, GraphComponent):  # type: ignore[misc]
    """Sequence (per token) and sentence (whole text) WordLlama features of a message's text.

    `weight` scales the unit-length vectors against the sparse counts they are concatenated
    with: logistic regression's L2 penalty is shared by all features, and a unit vector's 256
    components are small beside counts of 1 and more. 3 was chosen by 5-fold
    cross-validation of the training data (docs/decisions.md), not on a held-out set.
    """

    @classmethod
    def required_components(cls) -> list[type]:
        """A tokenizer must run first (sequence features are one row per token)."""
        return [Tokenizer]

    @staticmethod
    def required_packages() -> list[str]:
        """`tokenizers` reads WordLlama's tokenizer; the weights come with `wordllama`."""
        return ["tokenizers"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The base featurizer's options and `weight`."""
        return {**DenseFeaturizer.get_default_config(), "weight": 3.0}

    def __init__(self, config: dict[str, Any], name: str) -> None:
        """Load the embedding table (memory-mapped) and the tokenizer."""
        super().__init__(name, config)
        self._weight = float(self._config["weight"])
        self._embedder = WordLlamaEmbedder()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> WordLlamaFeaturizer:
        """A featurizer with nothing to train."""
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Nothing to check beyond the base class."""

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurise every training example's text."""
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Add WordLlama features to each message with text (every one, so that logistic
        regression always sees the same columns; a text of no known tokens embeds to zeros)."""
        featurisable = [m for m in messages if isinstance(m.get(TEXT), str)]
        if not featurisable:
            return messages
        sentences = self._embedder.embed([m.get(TEXT).lower() for m in featurisable])
        for message, sentence in zip(featurisable, sentences):
            tokens = [token.text.lower() for token in message.get(TOKENS_NAMES[TEXT]) or []]
            sequence = self._embedder.embed(tokens)
            alias = self._config[FEATURIZER_CLASS_ALIAS]
            for kind, matrix in (
                (FEATURE_TYPE_SEQUENCE, sequence),
                (FEATURE_TYPE_SENTENCE, sentence[np.newaxis, :]),
            ):
                message.add_features(Features(matrix * self._weight, kind, TEXT, alias))
        return messages

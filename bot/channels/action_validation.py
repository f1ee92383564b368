"""Check the action server's answers with a schema validator built once, not on every call.

Rasa 3.6's `RemoteAction._validate_action_result` calls `jsonschema.validate(result, schema)`
after every custom-action call. `jsonschema.validate` first checks the *schema* against the
JSON Schema meta-schema, then builds a validator, then checks the answer: with Rasa's events
schema the meta-schema check is about 95 % of the work (measured in Rasa's environment on this
machine: 97 ms for the meta-schema check, 7 ms for the answer), and it was the largest single
cost of a turn (docs/operations.md, "Turn throughput").

`install()` replaces that method with one that checks the schema once, at import, and then
validates every answer with the same validator: the same rules, the same `ValidationError`
with the same message, so a malformed answer is refused exactly as before. Rasa imports this
module through `frontdesk_callback` (the channel credentials.yml names), at start-up.
"""

from __future__ import annotations

from typing import Any

from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

_SCHEMA = RemoteAction.action_response_format_spec()
_VALIDATOR_CLASS = validator_for(_SCHEMA)
_VALIDATOR_CLASS.check_schema(_SCHEMA)
_VALIDATOR = _VALIDATOR_CLASS(_SCHEMA)


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """Rasa's `_validate_action_result`, without re-checking the schema on every call."""
    try:
        _VALIDATOR.validate(result)
        return True
    except ValidationError as e:
        e.message += (
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            "For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise e


def install() -> None:
    """Use `validate_action_result` for every remote action (idempotent)."""
    RemoteAction._validate_action_result = validate_action_result  # type: ignore[method-assign]

"""Rasa still refuses malformed action-server answers after our faster check is installed."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from frontdesk.botctl import RASA_CHANNELS_DIR
from frontdesk.settings import Settings

# Run inside Rasa's own environment, importing the channel module as `rasa run` does.
CHECK = r"""
import json
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.utils.endpoints import EndpointConfig

before = RemoteAction._validate_action_result
import frontdesk_callback  # noqa: F401 - installs the check, as at Rasa's start-up
action = RemoteAction("action_x", EndpointConfig("http://127.0.0.1:1/webhook"))
good = {"events": [{"event": "slot", "timestamp": None, "name": "s", "value": 1}],
        "responses": [{"text": "hi"}]}
bad = [
    {"events": [{"event": "no_such_event"}], "responses": []},
    {"events": [{"event": "slot"}], "responses": []},
    {"events": [], "responses": ["not an object"]},
]
refused = []
for answer in bad:
    try:
        action._validate_action_result(answer)
        refused.append(None)
    except ValidationError as e:
        refused.append(e.message)
print(json.dumps({
    "replaced": RemoteAction._validate_action_result is not before,
    "good": action._validate_action_result(good),
    "refused": refused,
}))
"""


@pytest.mark.rasa
def test_the_installed_check_accepts_good_answers_and_refuses_bad_ones() -> None:
    python = Settings(_env_file=None, env="development").rasa_venv / "bin" / "python"
    env = {**os.environ, "PYTHONPATH": str(RASA_CHANNELS_DIR), "RASA_TELEMETRY_ENABLED": "false"}
    result = subprocess.run(
        [str(python), "-c", CHECK], env=env, capture_output=True, text=True, check=True,
        timeout=120,
    )  # fmt: skip
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["replaced"] is True
    assert seen["good"] is True
    assert len(seen["refused"]) == 3
    for message in seen["refused"]:
        assert message is not None
        assert "Failed to validate Action server response" in message

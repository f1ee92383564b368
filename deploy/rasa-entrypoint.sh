#!/bin/sh
# Train only when the bot changed (model named by a hash of bot/ content), then serve.
set -eu
cd /app/bot
hash=$(find config.yml domain data -type f | sort | xargs cat | sha256sum | cut -c1-20)
model="/models/frontdesk-$hash.tar.gz"
if [ ! -f "$model" ]; then
  rasa train --config config.yml --domain domain --data data --out /models \
    --fixed-model-name "frontdesk-$hash"
fi
exec rasa run --enable-api --auth-token "$FRONTDESK_RASA_TOKEN" --interface 0.0.0.0 \
  --port 5005 --model "$model" --endpoints "${FRONTDESK_RASA_ENDPOINTS_FILE:-endpoints.yml}" \
  --credentials credentials.yml

#!/bin/sh
# `rasa-entrypoint train`: train the model the image serves (at build time), named by a hash
# of bot/ content. Without an argument: serve that model, training first only if it is
# missing (an image built from other bot/ content than it was trained on).
set -eu
cd /app/bot
# credentials.yml names the callback channel kept in channels/ (it keeps each turn's metadata);
# config.yml names the dense featurizer in components/, which imports /app/knowledge.
export PYTHONPATH="/app/bot/channels:/app/bot/components:/app${PYTHONPATH:+:$PYTHONPATH}"
models="${FRONTDESK_RASA_MODELS:-/app/models}"
hash=$(find config.yml domain data components ../knowledge/embeddings.py -type f \
  -not -path '*/__pycache__/*' | sort | xargs cat | sha256sum | cut -c1-20)
model="$models/frontdesk-$hash.tar.gz"
if [ ! -f "$model" ]; then
  rasa train --config config.yml --domain domain --data data --out "$models" \
    --fixed-model-name "frontdesk-$hash"
fi
if [ "${1:-}" = "train" ]; then
  exit 0
fi
exec rasa run --enable-api --auth-token "$FRONTDESK_RASA_TOKEN" --interface 0.0.0.0 \
  --port 5005 --model "$model" --endpoints "${FRONTDESK_RASA_ENDPOINTS_FILE:-endpoints.yml}" \
  --credentials credentials.yml

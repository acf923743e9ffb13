# Sourced by the launchers: export deploy/serving.env, except what the environment already sets.
while IFS='=' read -r key value; do
  [[ -z "$key" || "$key" == \#* || -n "${!key:-}" ]] || export "$key=$value"
done < "$(dirname "${BASH_SOURCE[0]}")/../deploy/serving.env"

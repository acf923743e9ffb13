# Sourced by the launchers (scripts/run_stack.sh, deploy/run_two_instances.sh): export
# deploy/serving.env, except what the environment already sets.
while IFS='=' read -r key value; do
  [[ -z "$key" || "$key" == \#* || -n "${!key:-}" ]] || export "$key=$value"
done < "$(dirname "${BASH_SOURCE[0]}")/../deploy/serving.env"

#!/usr/bin/env bash
# Protobuf checks of the mochi.v1 contract (proto/ at the repository root).
#   buf.sh lint              buf lint, configured by proto/buf.yaml
#   buf.sh breaking [REF]    buf breaking against proto/ as committed at REF,
#                            read from this clone's own .git (no network).
#                            REF is any git revision (main, HEAD~1, a tag, a hash).
#                            Default: main (or origin/main); when that is the
#                            commit checked out, its parent (HEAD~1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel)
cd "$here"
source scripts/deps.sh
ensure_node_modules
buf=$here/node_modules/.bin/buf
cd "$root"

commit_of() {
  git rev-parse --verify --quiet "$1^{commit}"
}

default_against() {
  local main head
  main=$(commit_of main || commit_of origin/main) || {
    echo "buf.sh: neither main nor origin/main exists; name a ref" >&2
    return 2
  }
  head=$(commit_of HEAD)
  if [[ $main == "$head" ]]; then
    commit_of HEAD~1 || {
      echo "buf.sh: HEAD is main and has no parent here (shallow clone?); name a ref" >&2
      return 2
    }
  else
    echo "$main"
  fi
}

case ${1:-} in
  lint)
    cd proto
    "$buf" lint
    ;;
  breaking)
    if [[ -n ${2:-} ]]; then
      against=$(commit_of "$2") || {
        echo "buf.sh: no commit $2 in $root" >&2
        exit 2
      }
    else
      against=$(default_against)
    fi
    echo "buf breaking: proto/ against $(git log -1 --format='%h %s' "$against")"
    "$buf" breaking proto --against "$(git rev-parse --absolute-git-dir)#ref=$against,subdir=proto"
    ;;
  *)
    echo "usage: $0 lint | breaking [git ref]" >&2
    exit 2
    ;;
esac

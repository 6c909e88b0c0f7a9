# Sourced by test.sh and buf.sh: installs node_modules from package-lock.json
# when it is missing or was installed from another lock file.
ensure_node_modules() {
  local stamp=node_modules/.package-lock.sha256
  local want
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    npm ci --loglevel=error --no-audit --no-fund
    echo "$want" >"$stamp"
  fi
}

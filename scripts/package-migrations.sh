#!/usr/bin/env bash
# Usage: package-migrations.sh BASE SRC DST
#
# Puts the application set (SPEC §10) into a Lambda package: the migration
# files of the folder SRC are copied into DST, next to bootstrap, which
# template.yaml then names in TENANT_MIGRATIONS. A relative SRC is taken
# from BASE (the project folder: sam build runs make in a scratch copy of
# it). DST is emptied first; an empty SRC (the built-in set) leaves no DST.
#
# Only files named <version>_<name>.sql are copied, as tenantapi reads them
# (postgres/migrations.go, migrationFile): the version is 1 to 18 digits and
# not zero, and no two files share one. Other files (a README) and folders
# are left out. A .sql file of another name, a duplicate version, a missing
# folder or one without a migration fails the build, naming the file or the
# folder, instead of the function's start.
set -euo pipefail
shopt -s dotglob nullglob

if [ $# -ne 3 ]; then
  echo "usage: $0 BASE SRC DST" >&2
  exit 2
fi
base=$1 src=$2 dst=$3

fail() {
  echo "TENANT_MIGRATIONS_DIR=$src: $*" >&2
  exit 1
}

rm -rf "$dst"
if [ -z "$src" ]; then
  exit 0
fi
dir=$src
case $dir in
  /*) ;;
  *) dir=$base/$dir ;;
esac
[ -d "$dir" ] || fail "no such folder ($dir)"

files=()
declare -A version_of=()
for path in "$dir"/*; do
  name=${path##*/}
  if [ -d "$path" ] || [[ $name != *.sql ]]; then
    continue
  fi
  if ! [[ $name =~ ^([0-9]{1,18})_([^/]+)\.sql$ ]]; then
    fail "$name: a migration is named <version>_<name>.sql, version digits only"
  fi
  v=$((10#${BASH_REMATCH[1]}))
  if [ "$v" -eq 0 ]; then
    fail "$name: the version must be a positive number"
  fi
  if [ -n "${version_of[$v]:-}" ]; then
    fail "${version_of[$v]} and $name share version $v"
  fi
  [ -f "$path" ] && [ -r "$path" ] || fail "$name is not a readable file"
  version_of[$v]=$name
  files+=("$path")
done
if [ ${#files[@]} -eq 0 ]; then
  fail "the folder holds no <version>_<name>.sql file"
fi

# Lambda runs the function as a user other than the package's owner: the
# files must be readable by all.
mkdir -p "$dst"
chmod 0755 "$dst"
for path in "${files[@]}"; do
  cp "$path" "$dst/"
  chmod 0644 "$dst/${path##*/}"
done
echo "packaged ${#files[@]} tenant migrations from $dir into $dst"

# shellcheck shell=bash
# Idempotent file operations of deploy/install.sh: each one acts only when the target differs
# (content, mode, owner) and then sets changed=1. Paths are inside $root (empty = /).
# Owners are numeric UID:GID so that an install under --root uses that tree's own users.
# The caller defines root (install prefix, may be empty) and changed (set to 1 on any change).
# shellcheck disable=SC2154,SC2034

# file_mode FILE: 0755 for an executable, else 0644.
file_mode() { if [ -x "$1" ]; then echo 0755; else echo 0644; fi; }

# set_owner_mode PATH UID:GID MODE: sets both when either differs.
set_owner_mode() {
  if [ "$(stat -c '%u:%g 0%a' "$1")" != "$2 $3" ]; then
    chown "$2" "$1"
    chmod "$3" "$1"
    changed=1
  fi
}

# put_dir DIR MODE UID:GID
put_dir() {
  local target="$root$1" mode="$2" owner="$3"
  if [ ! -d "$target" ]; then
    mkdir -p "$target"
    changed=1
  fi
  set_owner_mode "$target" "$owner" "$mode"
}

# put_file SOURCE DEST MODE UID:GID
put_file() {
  local source="$1" target="$root$2" mode="$3" owner="$4"
  if [ ! -f "$target" ] || ! cmp -s "$source" "$target"; then
    # Write next to the target, then rename: a running service never sees half a file.
    mkdir -p "$(dirname "$target")"
    cp "$source" "$target.alpa-new"
    set_owner_mode "$target.alpa-new" "$owner" "$mode"
    mv -f "$target.alpa-new" "$target"
    echo "install: wrote $2" >&2
    changed=1
  else
    set_owner_mode "$target" "$owner" "$mode"
  fi
}

# put_tree SOURCE_DIR DEST_DIR: the folder's files (root-owned, modes kept as 0755/0644); files in
# DEST_DIR that the source no longer has are removed (an upgrade leaves no stale assemblies).
put_tree() {
  local source="$1" dest="$2" rel
  while IFS= read -r -d '' rel; do
    rel="${rel#./}"
    if [ -d "$source/$rel" ]; then
      put_dir "$dest/$rel" 0755 0:0
    else
      put_file "$source/$rel" "$dest/$rel" "$(file_mode "$source/$rel")" 0:0
    fi
  done < <(cd "$source" && find . -mindepth 1 \( -type d -o -type f \) -print0 | sort -z)
  while IFS= read -r -d '' rel; do
    rel="${rel#./}"
    case "$rel" in postgres|postgres/*|README-deploy.md) continue ;; esac
    if [ ! -e "$source/$rel" ]; then
      rm -rf "${root:?}$dest/$rel"
      echo "install: removed $dest/$rel" >&2
      changed=1
    fi
  done < <(cd "$root$dest" && find . -mindepth 1 -maxdepth 1 -print0 | sort -z)
}

# put_link TARGET LINK: a symbolic link LINK -> TARGET.
put_link() {
  local target="$1" link="$root$2"
  if [ "$(readlink "$link" 2>/dev/null)" != "$target" ]; then
    mkdir -p "$(dirname "$link")"
    ln -sfn "$target" "$link"
    changed=1
  fi
}

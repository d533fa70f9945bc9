#!/usr/bin/env bash
# Bash completion (dist/bash-completion/amberfs) for amberfs, mkfs.amberfs,
# fsck.amberfs and amberctl, run through bash-completion as a shell would:
# options come from each program's --help, mount points of amberfs from the
# mount table, and snapshot names from "amberctl list --names" of a real
# mounted volume.
source "$(dirname "$0")/lib.sh"
amb_setup
BASH_COMPLETION=/usr/share/bash-completion/bash_completion
[[ -r $BASH_COMPLETION ]] || amb_skip "bash-completion not installed (package bash-completion)"
here=$(cd "$(dirname "$0")" && pwd)
completion=$here/../../dist/bash-completion/amberfs

vol=$AMB_WORK/vol mnt=$AMB_WORK/mnt
amb_mkfs "$vol" 64M
amb_mount "$vol" "$mnt"
"$AMBERFS_BUILD/amberctl" snapshot "$mnt" alpha >/dev/null
"$AMBERFS_BUILD/amberctl" snapshot "$mnt" beta >/dev/null

# complete LINE: the candidates bash would offer at the end of LINE, sorted,
# one a line, from an interactive-like shell with bash-completion loaded.
complete_line() {
  PATH=$AMBERFS_BUILD:$PATH bash --norc --noprofile -c '
    source "$1" && source "$2" || exit 9
    # Outside a real completion compopt has nothing to set; it only changes
    # how candidates are shown, not which.
    compopt() { builtin compopt "$@" 2>/dev/null || true; }
    COMP_LINE=$3 COMP_POINT=${#3}
    read -r -a COMP_WORDS <<<"$3"
    [[ $3 == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    spec=$(complete -p "${COMP_WORDS[0]}") || exit 8
    fn=${spec#*-F }; fn=${fn%% *}
    "$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$BASH_COMPLETION" "$completion" "$1"
}
# expect LINE WORD...: each WORD is among the candidates.
expect() {
  local line=$1 got w
  shift
  got=$(complete_line "$line") || amb_fail "completing '$line' failed (exit $?)"
  for w in "$@"; do
    grep -qxF -- "$w" <<<"$got" || amb_fail "completing '$line': no '$w' in: $(echo $got)"
  done
  amb_log "'$line' -> $(echo $got)"
}
# expect_exactly LINE WORD...: the candidates are exactly these.
expect_exactly() {
  local line=$1 got
  shift
  got=$(complete_line "$line")
  [[ $got == "$(printf '%s\n' "$@" | sort)" ]] || amb_fail "completing '$line': got: $(echo $got)"
  amb_log "'$line' -> $(echo $got)"
}

expect "amberctl " snapshot delete rollback gc drain flush list status umount
expect_exactly "amberctl li" list
expect_exactly "amberctl list --" --help --json --key-file --names --s3-credentials
expect_exactly "amberctl umount --t" --timeout
expect "amberctl status $AMB_WORK/m" "$mnt"
expect_exactly "amberctl delete $mnt " alpha beta
expect_exactly "amberctl rollback $vol a" alpha
expect_exactly "amberctl list --json $mnt " # nothing after TARGET for list
expect "mkfs.amberfs --s" --size --slow --snapshot --s3-credentials
expect_exactly "mkfs.amberfs --slow " file:/// s3://
expect "mkfs.amberfs --" --block-size --chunk-size --image --force --restore --volume --key-file --compress --change-key --help --version
expect_exactly "fsck.amberfs --read" --read-data --read-data-subset=
expect "fsck.amberfs -" -n -y -p -a -f --slow --strict --json --drop-broken --threads
expect "amberfs -" -f -d -s -h -V --help --version
expect "amberfs -o " cache_size= dirty_max= io= direct sync_delay= ro page_cache loglevel= upload_rate= pack_size= s3_credentials= snapshot_interval= keep= allow_other
expect_exactly "amberfs -o ro,di" ro,direct ro,direct_writeback ro,dirty_max=
expect "amberfs $AMB_WORK/v" "$vol"
amb_log "ok"

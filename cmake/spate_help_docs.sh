#!/bin/sh
# Generates, at build time, the parts of the docs that must follow `spate --help`, so they
# cannot drift from the binary (issue 21):
#   spate_help_docs.sh man-include SPATE OUT            help2man --include file: a COMMANDS
#                                                       section with each command's --help
#   spate_help_docs.sh completion SPATE TEMPLATE OUT    the bash completion: TEMPLATE with
#                                                       @SPATE_COMMANDS@ and @SPATE_FLAGS@
#                                                       (a case block, command -> its flags)
# SPATE is the built binary; it is run as plain `spate` (its directory first on PATH) so the
# usage lines say `spate run`, not the build path.
set -eu
mode=$1
spate=$2
PATH="$(cd "$(dirname "$spate")" && pwd):$PATH"
export PATH

# The command names from the top-level help's Subcommands section ("query, stats" is two).
commands() {
  spate --help | sed -n '/^Subcommands:/,$p' | sed -n 's/^  \([a-z][a-z-]*\)\(, \([a-z][a-z-]*\)\)\{0,1\} .*/\1 \3/p' |
    tr ' ' '\n' | sed '/^$/d'
}

# A command's flags: the option names at the start of each option line of its --help.
flags() {
  spate "$1" --help | sed -n '/^Options:/,$p' | grep -E '^  +-' |
    sed -e 's/^ *//' -e 's/ .*//' | tr ',' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

case "$mode" in
man-include)
  out=$3
  {
    echo '[COMMANDS]'
    # printf, not echo: dash's echo would eat the roff escapes.
    printf '%s\n' 'Each command and its options, as its \fB\-\-help\fR prints them.'
    for c in $(commands); do
      help=$(spate "$c" --help)
      # An alias (stats) prints the help of its command (query): list it once.
      case "$help" in *"Usage: spate $c "*) ;; *) continue ;; esac
      printf '.SS "spate %s"\n.nf\n' "$c"
      # roff: escape backslashes, and a line starting with . or ' would be a request.
      printf '%s\n' "$help" | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
      printf '.fi\n'
    done
    echo '[FILES]'
    echo '.TP'
    echo '.I /etc/spate/produce.yaml, /etc/spate/process.yaml, /etc/spate/schedule.yaml'
    echo 'configs of the systemd units spate-process@.service and spate-schedule.service (Debian package).'
    echo '.TP'
    echo '.I /etc/spate/spate.env'
    echo 'secrets (SPATE_PG_DSN, SPATE_CASSANDRA_USER, SPATE_CASSANDRA_PASSWORD) for the units, mode 0600.'
    echo '.TP'
    echo '.I /var/lib/spate'
    echo 'the units'"'"' working and data directory, owned by the spate user.'
    echo '[EXIT STATUS]'
    echo '0 success, 1 the work failed, 2 bad usage or configuration, 130 aborted.'
  } >"$out.tmp"
  mv "$out.tmp" "$out"
  ;;
completion)
  template=$3
  out=$4
  cmds=$(commands | tr '\n' ' ' | sed 's/ $//')
  cases=$(mktemp)
  trap 'rm -f "$cases"' EXIT
  for c in $(commands); do
    printf '    %s) flags="%s" ;;\n' "$c" "$(flags "$c")" >>"$cases"
  done
  # awk, not sed, inserts the case block: it is many lines.
  awk -v cmds="$cmds" -v cases="$cases" '
    /@SPATE_FLAGS@/ { while ((getline line < cases) > 0) print line; next }
    { gsub(/@SPATE_COMMANDS@/, cmds); print }' "$template" >"$out.tmp"
  mv "$out.tmp" "$out"
  ;;
*)
  echo "usage: $0 man-include SPATE OUT | completion SPATE TEMPLATE OUT" >&2
  exit 2
  ;;
esac

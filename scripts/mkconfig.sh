#!/bin/bash
# mkconfig.sh SRCDIR OBJDIR FRAGMENT...
# Build OBJDIR/.config = allnoconfig + fragments (merge_config.sh -n), then
# fail if any requested option did not survive olddefconfig.
set -euo pipefail
src=$1 obj=$2
shift 2
mkdir -p "$obj"; obj=$(realpath "$obj")
frags=()
for f in "$@"; do frags+=("$(realpath "$f")"); done
(cd "$src" && ARCH=x86_64 scripts/kconfig/merge_config.sh -n -O "$obj" "${frags[@]}") > "$obj/merge_config.log" 2>&1 || {
	cat "$obj/merge_config.log" >&2
	exit 1
}
# Every requested value must be in the final .config.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*)
		opt=${line%%=*}
		if ! grep -qxF "$line" "$obj/.config"; then
			got=$(grep -E "^($opt=|# $opt is not set)" "$obj/.config" || echo "absent")
			echo "mkconfig: requested $line, got: $got" >&2
			bad=1
		fi ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		if grep -q "^$opt=" "$obj/.config"; then
			echo "mkconfig: requested $opt off, got: $(grep "^$opt=" "$obj/.config")" >&2
			bad=1
		fi ;;
	esac
done < <(cat "${frags[@]}")
if [ $bad = 1 ]; then
	echo "mkconfig: options were dropped (name their dependencies in the fragment)" >&2
	exit 1
fi
echo "mkconfig: $obj/.config from: $*"

#!/bin/bash
# guest-env.sh: print, as bash declarations the guest's init sources, every
# variable the guest and its tests read from the host's environment:
# UFFDWP_* (the tests' knobs and expectations), BENCH_* (bench/run.sh),
# TESTS and T_TIMEOUT (guest/run-tests).  declare -p quotes any value
# ("", $, `, ', newlines) so it arrives byte for byte.
names=$(compgen -e | grep -E '^(UFFDWP_[A-Za-z0-9_]*|BENCH_[A-Za-z0-9_]*|TESTS|T_TIMEOUT)$' | sort)
[ -n "$names" ] || exit 0
# shellcheck disable=SC2086
declare -px $names

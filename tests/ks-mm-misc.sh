#!/bin/bash
# The other upstream mm selftests that exercise uffd(-wp) or soft-dirty.
S=$UFFDWP_TOP/build/selftests
L=$(mktemp)
trap 'rm -f "$L"' EXIT
cat > "$L" <<LIST
tap soft-dirty --cwd /tmp -- $S/soft-dirty
tap mkdirty --cwd /tmp -- $S/mkdirty
tap madv_populate --cwd /tmp -- $S/madv_populate
tap ksm_functional_tests --cwd /tmp -- $S/ksm_functional_tests
exit hugepage-mremap --cwd /tmp -- $S/hugepage-mremap
LIST
exec "$UFFDWP_TOP/tests/lib/ksft.py" multi "$L"

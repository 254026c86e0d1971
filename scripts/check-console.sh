#!/bin/bash
# check-console.sh LOG: fail (exit 1, excerpt printed) if the kernel reported
# a WARN, BUG, Oops, KASAN, UBSAN, KFENCE, lockdep, hung-task, soft lockup or
# RCU stall in the console log.
log=$1
pat='WARNING:|BUG:|Oops|kernel BUG at|general protection fault|KASAN:|UBSAN:|KFENCE:|'
pat+='possible circular locking|possible recursive locking|inconsistent lock state|'
pat+='suspicious RCU usage|DEBUG_LOCKS_WARN_ON|lockdep is turned off|blocked for more than|soft lockup|hard LOCKUP|rcu.*detected stall|'
pat+='RCU Stall|Kernel panic|list_add corruption|list_del corruption|'
pat+='Bad page state|Bad page map|Bad rss-counter|page_table_check|refcount_t:'
# Only kernel lines count (printk timestamps), not what tests print.
hits=$(grep -n -a -E "\[ *[0-9]+\.[0-9]+\].*($pat)" "$log" || true)
[ -z "$hits" ] && exit 0
first=$(echo "$hits" | head -n1 | cut -d: -f1)
echo "check-console: KERNEL SPLAT in $log (line $first):" >&2
sed -n "$((first > 5 ? first - 5 : 1)),$((first + 40))p" "$log" | sed 's/^/  | /' >&2
exit 1

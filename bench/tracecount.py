#!/usr/bin/python3
"""tracecount.py TRACE METHOD LABEL: per-write event counts of one wtrack --trace run.

Reads an ftrace text dump (record-tgid on) with the events sched_switch,
sched_waking, sched_wakeup, sched_migrate_task, raw_syscalls:sys_enter,
exceptions:page_fault_user and mmap_lock:mmap_lock_acquire_returned, and counts, between each "wtrack: writes begin
N tgid T" marker and its "end" marker, the events of the threads of T
(writer and handler together; wtrack writes the begin marker before it
arms the range, so arming is counted too, as in its timed region).
Prints one CSV row:

  method,config,writes,ctxsw,idle_sw,syscalls,faults,wakeups,xcpu_wakeups,migrations,cpus,mmap_locks

per tracked write (ctxsw: sched_switch with a thread of T on either side;
idle_sw: those whose other side is the idle task; xcpu_wakeups: wakeups of
a thread of T whose target CPU is not the CPU of the waker (sched_waking); cpus: the CPUs the
threads ran on).
"""
import re, sys

LINE = re.compile(r"^\s*(?P<comm>.+?)-(?P<pid>\d+)\s+\(\s*(?P<tgid>[\d-]+)\)\s+\[(?P<cpu>\d+)\]\s+\S+\s+"
                  r"(?P<ts>[\d.]+):\s+(?P<ev>[\w:]+):\s*(?P<rest>.*)$")

def main():
    path, method, label = sys.argv[1:4]
    tgid = None
    inside = False
    writes = 0
    pids = set()
    c = dict(mmap_lock=0, ctxsw=0, idle_sw=0, syscalls=0, faults=0, wakeups=0, xcpu=0, migr=0)
    cpus = set()
    waker_cpu = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            ev, rest = m["ev"], m["rest"]
            if ev == "tracing_mark_write":
                mm = re.search(r"wtrack: writes (begin|end) (\d+) tgid (\d+)", rest)
                if mm:
                    tgid = mm[3]
                    pids.add(int(tgid))
                    inside = mm[1] == "begin"
                    if inside:
                        writes += int(mm[2])
                continue
            if m["tgid"] == tgid:
                pids.add(int(m["pid"]))
            if not inside:
                continue
            mine = m["tgid"] == tgid
            if ev == "sched_switch":
                prev = int(re.search(r"prev_pid=(\d+)", rest)[1])
                nxt = int(re.search(r"next_pid=(\d+)", rest)[1])
                if prev in pids or nxt in pids or mine:
                    c["ctxsw"] += 1
                    if prev == 0 or nxt == 0:
                        c["idle_sw"] += 1
                    cpus.add(int(m["cpu"]))
            elif ev == "sched_waking":
                # try_to_wake_up() starts on the waker's CPU
                pid = int(re.search(r"pid=(\d+)", rest)[1])
                waker_cpu[pid] = int(m["cpu"])
            elif ev == "sched_wakeup":
                # ... and may end on the target CPU (wakelist IPI)
                pid = int(re.search(r"pid=(\d+)", rest)[1])
                if pid in pids:
                    c["wakeups"] += 1
                    tc = re.search(r"target_cpu=(\d+)", rest)
                    if tc and int(tc[1]) != waker_cpu.get(pid, int(tc[1])):
                        c["xcpu"] += 1
            elif ev == "sched_migrate_task":
                pid = int(re.search(r"pid=(\d+)", rest)[1])
                if pid in pids:
                    c["migr"] += 1
            elif ev == "sys_enter" and mine:
                c["syscalls"] += 1
            elif ev == "page_fault_user" and mine:
                c["faults"] += 1
            elif ev == "mmap_lock_acquire_returned" and mine:
                c["mmap_lock"] += 1
    if not writes:
        print(f"{method},{label},0,,,,,,,,,", flush=True)
        return
    per = {k: v / writes for k, v in c.items()}
    print(f"{method},{label},{writes},{per['ctxsw']:.2f},{per['idle_sw']:.2f},{per['syscalls']:.2f},"
          f"{per['faults']:.2f},{per['wakeups']:.2f},{per['xcpu']:.2f},{per['migr']:.3f},"
          f"{'+'.join(str(x) for x in sorted(cpus))},{per['mmap_lock']:.2f}")

main()

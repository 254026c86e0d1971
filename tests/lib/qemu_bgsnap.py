#!/usr/bin/python3
"""QEMU background snapshot of a guest whose RAM is a file (the real client).

QEMU's background snapshot (migration capability "background-snapshot")
write-protects guest RAM with synchronous userfaultfd-wp, saves every page,
and copies a page out before the guest's first write to it.  Upstream Linux
only allows that on anonymous memory, shmem and hugetlbfs, so QEMU refuses
guest RAM that is a regular file ("Background-snapshot is not compatible
with guest memory configuration"); with the series it must work.

For /dev/shm (the reference, works on every kernel) and for ext4, xfs and
btrfs from UFFDWP_FS, two TAP points:

 1. A nested QEMU (TCG, 64 MiB, RAM = memory-backend-file,share=on on that
    file system) runs a tiny multiboot guest that sweeps its RAM forever,
    writing an iteration counter into the first word of every page of
    [2 MiB, 63 MiB).  Once it has swept at least twice, the test takes a
    background snapshot ("exec:cat > FILE") over QMP and checks: completed,
    the snapshot holds the RAM (> 60 MiB, every page is non-zero), and the
    guest kept running (and writing protected pages) during the snapshot.
 2. The snapshot is loaded into a second QEMU (-incoming) whose RAM is
    another file, and the loaded RAM is compared with the loaded vCPU
    registers: at the instant of a consistent snapshot, the pages before the
    guest's pointer (EDI) hold the counter (ECX) and those after it hold
    ECX-1.  A write that slipped past the write protection before its page
    was saved shows up as a page ahead of the vCPU state.

When QEMU refuses a file ("not compatible"), the file system's points are a
failure when UFFDWP_EXPECT_WP_FILE=1 (default) and a SKIP when it is 0.
"""
import json, os, re, shlex, signal, socket, struct, subprocess, sys, tempfile, time

QEMU = "/usr/bin/qemu-system-x86_64"
EXPECT_FILE = os.environ.get("UFFDWP_EXPECT_WP_FILE", "1") == "1"
MEM_MIB = 64
PAGE = 4096
LO = 2 << 20                      # first page the guest writes
HI = (MEM_MIB - 1) << 20          # end of the pages the guest writes
NPAGES = (HI - LO) // PAGE
MIN_SNAP = 60 << 20               # the snapshot must hold at least this much
BUDGET = 840                      # s; the runner's timeout is 900 (tests/qemu-bgsnap.sh)
MIGRATE_TIMEOUT = 300
T0 = time.monotonic()

# ---------------------------------------------------------------- the guest
# A multiboot (v1) flat image loaded at 1 MiB; QEMU's multiboot option ROM
# enters it in 32-bit protected mode, flat segments, paging off.
#
#   entry: cli; xor ecx,ecx
#   S0:    mov edi, LO
#   S1:    inc ecx
#   L:     mov [edi], ecx
#   L2:    add edi, 4096
#          cmp edi, HI
#          jb L
#          jmp S0
LOAD = 0x100000
ENTRY = LOAD + 32
EIP_S1 = ENTRY + 8
EIP_L2 = ENTRY + 11
LOOP = (ENTRY + 3, ENTRY + 28)    # [S0, end of the loop)

def guest_image():
    code = (b"\xfa" + b"\x31\xc9" +                        # cli; xor ecx,ecx
            b"\xbf" + struct.pack("<I", LO) +              # S0: mov edi, LO
            b"\x41" +                                      # S1: inc ecx
            b"\x89\x0f" +                                  # L:  mov [edi], ecx
            b"\x81\xc7" + struct.pack("<I", PAGE) +        # L2: add edi, PAGE
            b"\x81\xff" + struct.pack("<I", HI) +          #     cmp edi, HI
            b"\x72\xf0" +                                  #     jb L
            b"\xeb\xe8")                                   #     jmp S0
    assert len(code) == 27
    magic, flags = 0x1BADB002, 0x00010000                  # address fields valid
    hdr = struct.pack("<8I", magic, flags, (-(magic + flags)) & 0xffffffff,
                      LOAD, LOAD, 0, 0, ENTRY)
    return (hdr + code).ljust(4096, b"\xf4")

# ------------------------------------------------------------------- output
n = 0
failed = False

def diag(msg):
    for line in str(msg).splitlines() or [""]:
        print(f"# {line}", flush=True)

def point(ok, desc, skip=None):
    global n, failed
    n += 1
    if skip:
        print(f"ok {n} - {desc} # SKIP {skip}", flush=True)
        return
    if not ok:
        failed = True
    print(f"{'ok' if ok else 'not ok'} {n} - {desc}", flush=True)

def left():
    return BUDGET - (time.monotonic() - T0)

class Fail(Exception):
    pass

class Refused(Exception):
    pass

# ---------------------------------------------------------------------- QMP
class QMP:
    def __init__(self, path, proc, timeout):
        end = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise Fail(f"QEMU exited with status {proc.returncode} before its QMP socket was up")
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > end:
                    raise Fail(f"no QMP socket {path} after {timeout}s")
                time.sleep(0.2)
        self.f = self.s.makefile("rb")
        self.s.settimeout(60)
        self.events = []
        greeting = self._line()
        if "QMP" not in greeting:
            raise Fail(f"unexpected QMP greeting {greeting}")
        self.cmd("qmp_capabilities")

    def _line(self):
        try:
            raw = self.f.readline()
        except OSError as e:
            raise Fail(f"QMP read: {e}")
        if not raw:
            raise Fail("QMP connection closed by QEMU")
        return json.loads(raw)

    def cmd(self, name, check=True, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        try:
            self.s.sendall(json.dumps(req).encode() + b"\n")
        except OSError as e:
            raise Fail(f"QMP write: {e}")
        while True:
            r = self._line()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r and check:
                raise Fail(f"QMP {name} {json.dumps(args)}: {r['error'].get('desc', r['error'])}")
            return r

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

# -------------------------------------------------------------------- QEMU
class Qemu:
    def __init__(self, tmp, tag, ram, kernel, extra=()):
        self.sock = os.path.join(tmp, f"{tag}.qmp")
        self.errpath = os.path.join(tmp, f"{tag}.stderr")
        self.argv = [QEMU, "-accel", "tcg", "-machine", "pc,memory-backend=mem",
                     "-m", f"{MEM_MIB}M",
                     "-object", f"memory-backend-file,id=mem,size={MEM_MIB}M,mem-path={ram},share=on",
                     "-kernel", kernel, "-nodefaults", "-display", "none",
                     "-qmp", f"unix:{self.sock},server=on,wait=off", "-S", *extra]
        self.err = open(self.errpath, "wb")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.err, stderr=subprocess.STDOUT)
        self.qmp = None
        try:
            self.qmp = QMP(self.sock, self.proc, min(60, max(5, left())))
        except Exception:
            self.stop()
            raise

    def stderr_tail(self, lines=15):
        try:
            with open(self.errpath, "rb") as f:
                t = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []
        return t[-lines:]

    def stop(self):
        if self.qmp:
            try:
                self.qmp.s.settimeout(5)
                self.qmp.cmd("quit", check=False)
            except Exception:
                pass
            self.qmp.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                diag(f"QEMU pid {self.proc.pid} does not die after SIGKILL")
        self.err.close()
        for p in (self.sock,):
            try:
                os.unlink(p)
            except OSError:
                pass

def counter(path, off=LO):
    with open(path, "rb") as f:
        b = os.pread(f.fileno(), 4, off)
    return struct.unpack("<I", b)[0] if len(b) == 4 else 0

def wait_migration(qmp, what, timeout):
    end = time.monotonic() + timeout
    while True:
        r = qmp.cmd("query-migrate")["return"]
        st = r.get("status", "none")
        if st in ("completed", "failed", "cancelled"):
            return r
        if time.monotonic() > end:
            diag(f"{what}: still '{st}' after {timeout:.0f}s: {json.dumps(r)}")
            qmp.cmd("migrate_cancel", check=False)
            return r
        time.sleep(0.2)

def rmf(*paths):
    for p in paths:
        try:
            os.unlink(p)
        except OSError:
            pass

# --------------------------------------------------------------- one target
def snapshot(label, d, tmp, kernel, res):
    """Background snapshot of a guest whose RAM is d/bgsnap-ram; raises
    Refused when QEMU says the memory is not compatible, Fail otherwise."""
    ram, snap = os.path.join(d, "bgsnap-ram"), os.path.join(d, "bgsnap.snap")
    rmf(ram, snap)
    res["files"] += [ram, snap]
    q = Qemu(tmp, "src", ram, kernel)
    res["qemu"].append(q)
    q.qmp.cmd("cont")
    end = time.monotonic() + min(120, max(1, left() - 60))
    while counter(ram) < 2:
        if time.monotonic() > end:
            raise Fail(f"the guest did not sweep its RAM twice (counter {counter(ram)}); "
                       f"status {q.qmp.cmd('query-status')['return']}")
        time.sleep(0.2)
    r = q.qmp.cmd("migrate-set-capabilities", check=False,
                  capabilities=[{"capability": "background-snapshot", "state": True}])
    if "error" in r:
        desc = r["error"].get("desc", "")
        diag(f"{label}: migrate-set-capabilities: {desc}")
        if "not compatible" in desc:
            raise Refused(desc)
        raise Fail(f"migrate-set-capabilities: {desc}")
    c0 = counter(ram)
    t = time.monotonic()
    q.qmp.cmd("migrate", uri="exec:cat > " + shlex.quote(snap))
    r = wait_migration(q.qmp, f"{label} snapshot", min(MIGRATE_TIMEOUT, max(1, left() - 30)))
    dt = time.monotonic() - t
    c1 = counter(ram)
    st = r.get("status")
    ramst = r.get("ram", {})
    diag(f"{label}: query-migrate: status {st} in {dt:.1f}s, total-time {r.get('total-time')} ms, "
         f"ram: " + ", ".join(f"{k} {ramst.get(k)}" for k in
                               ("total", "transferred", "normal", "duplicate", "mbps")))
    if st != "completed":
        if r.get("error-desc"):
            diag(f"{label}: error-desc: {r['error-desc']}")
        if "not compatible" in (r.get("error-desc") or ""):
            raise Refused(r["error-desc"])
        raise Fail(f"background snapshot {st or 'did not finish'} after {dt:.0f}s")
    # The exec: child may still be flushing when QEMU says completed.
    for _ in range(50):
        size = os.path.getsize(snap) if os.path.exists(snap) else 0
        time.sleep(0.1)
        if size == (os.path.getsize(snap) if os.path.exists(snap) else 0):
            break
    size = os.path.getsize(snap) if os.path.exists(snap) else 0
    res.update(snap=snap, size=size, c0=c0, c1=c1)
    diag(f"{label}: guest counter {c0} when the snapshot started, {c1} when it completed "
         f"({c1 - c0} sweeps of {NPAGES} pages during the snapshot)")
    probs = []
    if size < MIN_SNAP:
        probs.append(f"snapshot is {size} bytes, expected > {MIN_SNAP} (RAM {MEM_MIB} MiB)")
    if ramst.get("normal", 0) < NPAGES:
        probs.append(f"only {ramst.get('normal')} full pages saved, the guest wrote {NPAGES}")
    if c1 <= c0:
        probs.append(f"the guest made no progress during the snapshot (counter {c0} -> {c1})")
    q.stop()
    res["qemu"].remove(q)
    rmf(ram)
    if probs:
        raise Fail("; ".join(probs))
    return size

def verify(label, d, tmp, kernel, res):
    """Load the snapshot into a fresh QEMU and compare RAM with the vCPU."""
    ram = os.path.join(d, "bgsnap-restore-ram")
    rmf(ram)
    res["files"].append(ram)
    q = Qemu(tmp, "dst", ram, kernel, extra=("-incoming", "defer"))
    res["qemu"].append(q)
    q.qmp.cmd("migrate-incoming", uri="exec:cat " + shlex.quote(res["snap"]))
    r = wait_migration(q.qmp, f"{label} restore", min(180, max(1, left() - 10)))
    if r.get("status") != "completed":
        raise Fail(f"loading the snapshot: {json.dumps(r)}")
    regs = q.qmp.cmd("human-monitor-command", **{"command-line": "info registers"})["return"]
    reg = {}
    for k in ("EIP", "ECX", "EDI"):
        m = re.search(rf"\b{k}=([0-9a-fA-F]+)", regs)
        if not m:
            diag(regs)
            raise Fail(f"no {k} in 'info registers'")
        reg[k] = int(m.group(1), 16)
    eip, ecx, edi = reg["EIP"], reg["ECX"], reg["EDI"]
    diag(f"{label}: restored vCPU: EIP={eip:#x} ECX={ecx} EDI={edi:#x}")
    with open(ram, "rb") as f:
        data = os.pread(f.fileno(), HI - LO, LO)
    q.stop()
    res["qemu"].remove(q)
    rmf(ram)
    if not LOOP[0] <= eip < LOOP[1]:
        raise Fail(f"restored EIP {eip:#x} is outside the guest's loop")
    if not res["c0"] <= ecx <= res["c1"]:
        raise Fail(f"restored counter {ecx} is outside [{res['c0']}, {res['c1']}] "
                   "(the counter when the snapshot started and completed)")
    if eip == EIP_S1:
        cut = NPAGES                # edi reset, counter not yet incremented
    else:
        cut = max(0, min(NPAGES, (edi - LO) // PAGE + (1 if eip == EIP_L2 else 0)))
    bad = []
    for i in range(NPAGES):
        v = struct.unpack_from("<I", data, i * PAGE)[0]
        want = ecx if i < cut else ecx - 1
        if v != want:
            bad.append((i, v, want))
    if bad:
        for i, v, want in bad[:8]:
            diag(f"{label}: page {LO + i * PAGE:#x}: snapshot has {v}, vCPU state says {want}")
        raise Fail(f"{len(bad)} of {NPAGES} pages do not match the vCPU state at the snapshot "
                   f"instant (counter {ecx}, pointer {edi:#x})")
    return ecx, cut

# --------------------------------------------------------------------- main
def targets():
    ts = [("/dev/shm", "/dev/shm (tmpfs)", True)]
    for item in os.environ.get("UFFDWP_FS", "").split():
        name, _, mnt = item.partition(":")
        if name in ("ext4", "xfs", "btrfs") and mnt:
            ts.append((mnt, name, False))
    return ts


def qemu_tails(label, res):
    """Print the stderr tail of every QEMU the case started."""
    for q in res["qemu"]:
        diag(f"{label}: qemu stderr tail:")
        for l in q.stderr_tail():
            diag("  " + l)


def run_target(d, label, ref, tmp, kernel):
    res = {"files": [], "qemu": []}
    desc1 = f"qemu background-snapshot, RAM file on {label} ({MEM_MIB} MiB)"
    desc2 = f"restored snapshot of the RAM file on {label}: RAM matches the vCPU state at the snapshot instant"
    try:
        try:
            if left() < 60:
                raise Fail("not run: the time budget of the test is exhausted")
            size = snapshot(label, d, tmp, kernel, res)
            point(True, f"{desc1}: completed, snapshot {size} bytes, "
                        f"{res['c1'] - res['c0']} guest RAM sweeps during it")
        except Refused as e:
            if ref:
                point(False, f"{desc1}: refused ({e})")
                point(False, f"{desc2}: no snapshot")
            elif EXPECT_FILE:
                point(False, f"{desc1}: refused although sync uffd-wp on files is expected ({e})")
                point(False, f"{desc2}: no snapshot")
            else:
                why = "kernel does not support sync uffd-wp on files (expected)"
                point(True, f"{desc1}: refused", skip=why)
                point(True, desc2, skip=why)
            return
        except Fail as e:
            qemu_tails(label, res)
            point(False, f"{desc1}: {e}")
            point(False, f"{desc2}: no snapshot")
            return
        try:
            if left() < 20:
                raise Fail("not run: the time budget of the test is exhausted")
            ecx, cut = verify(label, d, tmp, kernel, res)
            point(True, f"{desc2} ({NPAGES} pages: {cut} at {ecx}, {NPAGES - cut} at {ecx - 1})")
        except Fail as e:
            qemu_tails(label, res)
            point(False, f"{desc2}: {e}")
    finally:
        for q in list(res["qemu"]):
            q.stop()
        rmf(*res["files"])

def main():
    ts = targets()
    print(f"1..{2 * len(ts)}", flush=True)
    diag(f"{QEMU}: {subprocess.run([QEMU, '--version'], capture_output=True, text=True).stdout.splitlines()[0]}; "
         f"kernel {os.uname().release}; UFFDWP_EXPECT_WP_FILE={'1' if EXPECT_FILE else '0'}")
    tmp = tempfile.mkdtemp(prefix="bgsnap.", dir=os.environ.get("UFFDWP_SCRATCH", "/tmp"))
    kernel = os.path.join(tmp, "sweeper.mb")
    with open(kernel, "wb") as f:
        f.write(guest_image())
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    try:
        for d, label, ref in ts:
            t = time.monotonic()
            run_target(d, label, ref, tmp, kernel)
            diag(f"{label}: {time.monotonic() - t:.1f}s")
    finally:
        for f in os.listdir(tmp):
            rmf(os.path.join(tmp, f))
        os.rmdir(tmp)
    diag(f"total {time.monotonic() - T0:.1f}s")
    return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())

"""gankit on a busy machine: the default preset alone, then with a competing 2-thread
PyTorch process started mid-run (issue 16's target: >= 45 % of the solo images/s while the
competitor runs, where a fair share of two cores is 50 %).

  python bench/contention.py                  # automatic threads (train.threads=0), ~4.5 min
  python bench/contention.py --fixed-threads  # and the same with train.threads=2 beside it
  python bench/contention.py --seconds 20 --no-write   # shorter windows (a smoke run)
  python bench/contention.py --own-session    # the competitor in its own session

Where the competitor runs matters on Linux. By default it shares the bench's session, as a
job started with ``&`` from the shell that runs gankit: the scheduler then shares the CPUs
between threads, so gankit's one thread beside the competitor's two gets about 2/3 of a
core. With ``--own-session`` it starts in a session of its own, as a program started from
another terminal: with autogroup on (``/proc/sys/kernel/sched_autogroup_enabled``, on in
many distributions' kernels) the scheduler first splits the CPUs evenly between the two
sessions. The header prints the autogroup setting.

One measurement (per thread setting):

1. the competitor alone for SECONDS/3: a small MLP trained on random data with 2 threads
   (784-1024-1024-10, batch 256, SGD), which reports its own iterations/s;
2. ``gankit train --preset default`` in a subprocess (``--set train.log_every=10`` so its
   ``log.jsonl`` has a record every second or so; no step or time budget): SECONDS alone
   after its first log record, then SECONDS with the competitor running, then SECONDS/2
   after the competitor ended; then SIGINT (gankit's graceful stop).

gankit's images/s in a window is read from its ``log.jsonl`` (kimg and training seconds of
the first and last record inside it; the bench stamps each record with the wall time it
appeared, which maps training seconds to wall time). Printed: the CPU model and whether it
has AVX-512F, the thread counts gankit used (its ``threads`` log field and its ``threads:``
lines), gankit's images/s solo, with the competitor (also without the competitor's first 10
s, while the thread count adapts) and after it, the ratio to solo, the competitor's
iterations/s alone and beside gankit, and how many CPUs each program used in each window
(gankit's from ``/proc/PID/stat``, the competitor's from its own process time), which shows
how the scheduler split the cores. The tables go to ``docs/results/contention-<kind>.md``
(``--no-write``: printed only; use it for smoke runs). A benchmark, not a test: run it on a
quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

TARGET = 0.45  # issue 16: gankit keeps >= 45 % of its solo rate beside the competitor
SETTLE_SECONDS = 10.0  # the adaptive count takes two checks of 3 s to follow a change
POLL_SECONDS = 0.2
# The environment of both children: without the caller's thread caps (a shell that set
# OMP_NUM_THREADS=1 would cap gankit's automatic count at 1).
THREAD_CAPS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
AUTOGROUP = "/proc/sys/kernel/sched_autogroup_enabled"


# --- the competitor ----------------------------------------------------------------------------

def competitor(seconds: float) -> None:
    """Train a small MLP on random data with 2 threads for ``seconds``; print one JSON line:
    ``{"stamps": [wall time after each iteration], "threads": 2, "cpus": CPUs it used}``."""
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 1024), torch.nn.ReLU(),
                              torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
                              torch.nn.Linear(1024, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x, y = torch.randn(256, 784), torch.randint(10, (256,))
    started, cpu = time.time(), time.process_time()
    stamps, end = [], started + seconds
    while time.time() < end:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        stamps.append(time.time())
    cpus = (time.process_time() - cpu) / (time.time() - started)
    print(json.dumps({"stamps": stamps, "threads": torch.get_num_threads(), "cpus": cpus}),
          flush=True)


def start_competitor(seconds: float, own_session: bool = False) -> subprocess.Popen:
    """The competitor as a subprocess; ``own_session``: in a new session (``setsid``)."""
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--competitor",
                             str(seconds)], stdout=subprocess.PIPE, text=True,
                            env=common.child_env(drop=THREAD_CAPS),
                            start_new_session=own_session)


def autogroup() -> str:
    """Linux's per-session CPU split: "on", "off" or "unknown" (not readable)."""
    try:
        return {"1": "on", "0": "off"}[Path(AUTOGROUP).read_text().strip()]
    except (OSError, KeyError):
        return "unknown"


def competitor_report(proc: subprocess.Popen) -> tuple[list[float], float]:
    """(the wall time after each of its iterations, the CPUs it used on average)."""
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"the competitor failed (exit {proc.returncode})")
    report = json.loads(out.strip().splitlines()[-1])
    return report["stamps"], report["cpus"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) from /proc, or NaN."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def iterations_per_s(stamps: list[float], skip: float = 1.0) -> float:
    """Iterations/s after the first ``skip`` seconds (warm-up)."""
    kept = [t for t in stamps if t >= stamps[0] + skip] if stamps else []
    if len(kept) < 2:
        return float("nan")
    return (len(kept) - 1) / (kept[-1] - kept[0])


# --- gankit --------------------------------------------------------------------------------

class GankitRun:
    """``gankit train --preset default`` in a subprocess; its log records stamped with the
    wall time the bench first saw them."""

    def __init__(self, folder: Path, threads: int):
        self.out, self.seen = folder / "run", []  # (wall, record)
        self.stdout = open(folder / "stdout.txt", "w+")
        self.stderr = open(folder / "stderr.txt", "w+")
        command = [sys.executable, "-m", "gankit", "train", "--preset", "default",
                   "--out", str(self.out), "--steps", "0", "--minutes", "60",
                   "--threads", str(threads), "--no-progress", "--set", "train.log_every=10"]
        self.proc = subprocess.Popen(command, stdout=self.stdout, stderr=self.stderr,
                                     cwd=folder, env=common.child_env(drop=THREAD_CAPS))
        self.read_bytes = 0

    def poll(self) -> None:
        log = self.out / "log.jsonl"
        if not log.is_file():
            return
        with open(log, "rb") as f:
            f.seek(self.read_bytes)
            chunk = f.read()
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self.read_bytes += len(complete)
        now = time.time()
        for line in complete.decode().splitlines():
            record = json.loads(line)
            if "kimg" in record:
                self.seen.append((now, record))

    def wait_until(self, wall: float) -> None:
        while time.time() < wall:
            if self.proc.poll() is not None:
                raise SystemExit(f"gankit stopped early (exit {self.proc.returncode}):\n"
                                 + self.tail())
            self.poll()
            time.sleep(POLL_SECONDS)
        self.poll()

    def first_record(self, timeout: float = 300.0) -> float:
        """The wall time of gankit's first log record."""
        deadline = time.time() + timeout
        while not self.seen:
            if time.time() > deadline:
                raise SystemExit("gankit wrote no log record in 5 minutes:\n" + self.tail())
            self.wait_until(time.time() + POLL_SECONDS)
        return self.seen[0][0]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.poll()

    def tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-2000:]

    def lines(self, prefix: str) -> list[str]:
        self.stdout.seek(0)
        return [line.rstrip() for line in self.stdout if line.startswith(prefix)]

    def window(self, start: float, end: float) -> tuple[float, list[int]]:
        """(images/s, thread counts logged) between wall times ``start`` and ``end``."""
        # training seconds -> wall time: the smallest delay at which a record was seen
        offset = min(wall - r["seconds"] for wall, r in self.seen)
        inside = [r for _, r in self.seen if start <= r["seconds"] + offset <= end]
        threads = sorted({r["threads"] for r in inside if "threads" in r})
        if len(inside) < 2:
            return float("nan"), threads
        first, last = inside[0], inside[-1]
        rate = (last["kimg"] - first["kimg"]) * 1000 / (last["seconds"] - first["seconds"])
        return rate, threads


# --- one measurement -------------------------------------------------------------------------

def measure(threads: int, seconds: float, own_session: bool = False) -> dict:
    """The competitor alone, then gankit alone / with the competitor / after it."""
    label = "automatic threads (train.threads=0)" if threads == 0 else \
        f"fixed threads (train.threads={threads})"
    if own_session:
        label += ", competitor in its own session"
    print(f"\n== {label}", flush=True)
    alone, cpus_alone = competitor_report(start_competitor(max(10.0, seconds / 3),
                                                           own_session))
    result = {"label": label, "competitor_alone": iterations_per_s(alone),
              "competitor_cpus_alone": cpus_alone}
    print(f"competitor alone: {result['competitor_alone']:.2f} it/s", flush=True)
    with tempfile.TemporaryDirectory(prefix="gankit-contention-") as tmp:
        run = GankitRun(Path(tmp), threads)
        # (wall, gankit's CPU seconds) where each window starts and ends: how many CPUs it
        # got alone, beside the competitor and after it
        marks = []
        mark = lambda: marks.append((time.time(), cpu_seconds(run.proc.pid)))  # noqa: E731
        try:
            solo_start = run.first_record()
            mark()
            run.wait_until(solo_start + seconds)
            mark()
            other = start_competitor(seconds, own_session)
            run.wait_until(time.time() + seconds)
            while other.poll() is None:
                run.wait_until(time.time() + POLL_SECONDS)
            mark()
            beside, result["competitor_cpus_beside"] = competitor_report(other)
            run.wait_until(beside[-1] + seconds / 2)
            mark()
        finally:
            run.stop()
        result["cpus"] = [(c1 - c0) / (w1 - w0) for (w0, c0), (w1, c1) in zip(marks, marks[1:])]
        on, off = beside[0], beside[-1]
        result["solo"], result["threads_solo"] = run.window(solo_start, on)
        result["contended"], result["threads_contended"] = run.window(on, off)
        result["settled"], _ = run.window(on + SETTLE_SECONDS, off)
        result["after"], result["threads_after"] = run.window(off, off + seconds / 2)
        result["competitor_beside"] = iterations_per_s(beside)
        result["changes"] = run.lines("threads:")
        result["calibration"] = run.lines("calibration:")
    report(result)
    return result


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f} %" if whole == whole and whole > 0 else "n/a"


def report(r: dict) -> None:
    counts = lambda ts: "/".join(map(str, ts)) or "?"  # noqa: E731
    for line in r["calibration"]:
        print("  gankit " + line)
    print(f"  gankit alone:             {r['solo']:7.1f} img/s  "
          f"(threads {counts(r['threads_solo'])})")
    ratio = r["contended"] / r["solo"] if r["solo"] > 0 else float("nan")
    verdict = "meets" if ratio >= TARGET else "misses"
    print(f"  gankit beside competitor: {r['contended']:7.1f} img/s  = "
          f"{_pct(r['contended'], r['solo'])} of alone ({verdict} the {TARGET:.0%} target; threads "
          f"{counts(r['threads_contended'])}); after its first {SETTLE_SECONDS:.0f} s: "
          f"{r['settled']:.1f} img/s = {_pct(r['settled'], r['solo'])}")
    print(f"  gankit after it ended:    {r['after']:7.1f} img/s  = {_pct(r['after'], r['solo'])}"
          f" (threads {counts(r['threads_after'])})")
    print(f"  competitor: {r['competitor_alone']:.2f} it/s alone, {r['competitor_beside']:.2f} "
          f"it/s beside gankit = {_pct(r['competitor_beside'], r['competitor_alone'])}")
    cpus = "/".join(f"{c:.2f}" for c in r["cpus"]) if len(r["cpus"]) == 3 else "n/a"
    print(f"  CPUs used (of {os.cpu_count()}): gankit alone/beside/after {cpus}; competitor "
          f"alone {r['competitor_cpus_alone']:.2f}, beside gankit "
          f"{r['competitor_cpus_beside']:.2f}")
    for line in r["changes"]:
        print("  gankit " + line)


TITLE = "gankit on a busy machine: the default preset beside a competing 2-thread job"


def tables(results: list[dict]) -> str:
    """The shares table and the details (rates settled and after, CPUs used) in Markdown."""
    shares = [[r["label"], f"{r['solo']:.1f}", f"{r['contended']:.1f}",
               f"**{_pct(r['contended'], r['solo'])}**", f"{r['competitor_alone']:.2f}",
               f"{r['competitor_beside']:.2f}"] for r in results]
    details = [[r["label"], _pct(r["settled"], r["solo"]), _pct(r["after"], r["solo"]),
                "/".join(f"{c:.2f}" for c in r["cpus"]) if len(r["cpus"]) == 3 else "n/a",
                f"{r['competitor_cpus_alone']:.2f} / {r['competitor_cpus_beside']:.2f}",
                _pct(r["competitor_beside"], r["competitor_alone"])] for r in results]
    return (common.table(["threads", "gankit alone, img/s", "beside the competitor",
                          "share of alone", "competitor alone, it/s", "beside gankit"], shares)
            + "\n\n" + common.table([
                "threads", f"share without the competitor's first {SETTLE_SECONDS:.0f} s",
                "share after it ended", "CPUs gankit used (alone/beside/after)",
                "CPUs the competitor used (alone / beside)", "competitor's share of its own "
                "rate"], details))


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--seconds", type=float, default=90.0,
                        help="gankit alone, then with the competitor (each this long); "
                             "after it: half (default 90: about 4.5 min in all)")
    parser.add_argument("--fixed-threads", action="store_true",
                        help="also measure train.threads=2 (the count fixed at start)")
    parser.add_argument("--own-session", action="store_true",
                        help="start the competitor in a session of its own, as from another "
                             "terminal (default: the bench's session, as a shell's '&' job)")
    parser.add_argument("--competitor", type=float, metavar="SECONDS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.competitor is not None:
        competitor(args.competitor)
        return
    if args.seconds < 5:
        print("contention: --seconds must be at least 5", file=sys.stderr)
        raise SystemExit(2)
    print(f"{common.machine_line('automatic')}; windows of {args.seconds:g} s; competitor: "
          f"2-thread MLP 784-1024-1024-10, batch 256, in "
          f"{'its own' if args.own_session else 'the same'} session; autogroup: {autogroup()}",
          flush=True)
    results = [measure(0, args.seconds, args.own_session)]
    if args.fixed_threads:
        results.append(measure(2, args.seconds, args.own_session))
    markdown = (f"Windows of {args.seconds:g} s; the competitor (a 2-thread MLP "
                f"784-1024-1024-10, batch 256) in {'its own' if args.own_session else 'the'} "
                f"{'session' if args.own_session else 'same session as gankit'}; autogroup: "
                f"{autogroup()}; {os.cpu_count()} CPUs.\n\n" + tables(results))
    print("\n" + markdown)
    auto = results[0]
    common.write_results("contention", TITLE, {"seconds": args.seconds, "autogroup": autogroup(),
                                               "results": results}, markdown, args=args,
                         section="own session" if args.own_session else "",
                         heading="The competitor in its own session (`--own-session`)"
                         if args.own_session else "", threads="automatic (follows the load)",
                         headline=f"automatic threads kept {_pct(auto['contended'], auto['solo'])}"
                         " of the solo rate beside the competitor")


if __name__ == "__main__":
    main()

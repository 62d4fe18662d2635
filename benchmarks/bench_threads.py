"""Images/s of chapter 2's training step, quiet and beside N busy processes, for each CPU thread setting (issue 17).

The step: chapter 2's, i.e. the library's conv32 VAE (latent 10, logvar_bias -4) with beta_vae(beta=4), batch 64,
Adam 1e-3, on dSprites rendered each step and average-pooled to 32x32 (``--data dsprites``, the notebook's stream),
or on random binary 64x64 images pooled the same way and held in memory (``--data memory``: the model alone). One subprocess per setting and
round, started with a clean thread environment (OMP_NUM_THREADS, OMP_WAIT_POLICY, GOMP_SPINCOUNT,
MKL_NUM_THREADS and VAECOURSE_THREADS removed, then the setting's own variables added), so each setting gets a
fresh libgomp. In each round, every setting is timed quiet, then with ``--busy`` competing processes this script
starts itself (pure-Python busy loops, each ending by itself after ``--busy-limit`` seconds and killed after its
window; all children are killed on exit). The settings run in a rotated order each round.

Reported: median images/s over rounds, and its ratio to the quiet single-thread speed *of the same round*
(median over rounds), beside /proc/loadavg and the cores kept busy by processes other than this benchmark's
(/proc/stat minus the benchmark's children) during the window. The goal of issue 17: loaded >= 0.8 and quiet
>= the quiet ratio of "2 threads (torch default)".

    python benchmarks/bench_threads.py            # 3 rounds, all eight settings (about 4 minutes expected quiet;
                                                  # 9 minutes with 3 s windows on the busy shared machine)
    python benchmarks/bench_threads.py --quick    # 1 round, six settings, 1.5 s windows (40 s measured)
    VAECOURSE_THREADS=2 python benchmarks/bench_fit.py   # how any other benchmark gets a fixed thread count
"""

from __future__ import annotations

import argparse
import atexit
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import time

BATCH = 64
CLEARED = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS", "VAECOURSE_THREADS",
           "KMP_BLOCKTIME")

# name -> (threads: an int, or "auto" = import vaecourse and let its governor choose; env before python starts;
#          env set inside the process after `import torch`)
SETTINGS: dict[str, tuple] = {
    "1 thread": (1, {}, {}),
    "2 threads (torch default)": (2, {}, {}),
    "2, OMP_WAIT_POLICY=PASSIVE": (2, {"OMP_WAIT_POLICY": "PASSIVE"}, {}),
    "2, PASSIVE set after import torch": (2, {}, {"OMP_WAIT_POLICY": "PASSIVE"}),
    "2, GOMP_SPINCOUNT=0": (2, {"GOMP_SPINCOUNT": "0"}, {}),
    "2, GOMP_SPINCOUNT=10000": (2, {"GOMP_SPINCOUNT": "10000"}, {}),
    "2, GOMP_SPINCOUNT=100000": (2, {"GOMP_SPINCOUNT": "100000"}, {}),
    "auto (import vaecourse)": ("auto", {}, {}),
}
QUICK = ["1 thread", "2 threads (torch default)", "2, OMP_WAIT_POLICY=PASSIVE", "2, PASSIVE set after import torch",
         "2, GOMP_SPINCOUNT=10000", "auto (import vaecourse)"]

_CHILDREN: list[subprocess.Popen] = []


def _kill_children() -> None:
    for proc in _CHILDREN:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _CHILDREN.clear()


def _on_signal(signum, frame):
    _kill_children()
    sys.exit(128 + signum)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round, 1.5 s windows, six settings (~1 minute)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=float, default=2.5, help="seconds timed per setting and load")
    parser.add_argument("--settle", type=float, default=1.0,
                        help="untimed seconds of steps before each window (the load starts before them)")
    parser.add_argument("--busy", type=int, default=1, help="competing busy processes in the loaded case")
    parser.add_argument("--busy-nice", type=int, default=0, help="niceness of the busy processes (0: as ours)")
    parser.add_argument("--busy-limit", type=float, default=60.0, help="a busy process ends itself after this")
    parser.add_argument("--settings", nargs="*", choices=list(SETTINGS), help="a subset of the settings")
    parser.add_argument("--data", choices=["dsprites", "memory"], default="dsprites",
                        help="dsprites: rendered each step (chapter 2's stream); memory: random images held in memory")
    parser.add_argument("--json", help="also write the raw measurements here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.window, args.settle = 1, 1.5, 0.5
        args.settings = args.settings or QUICK
    args.settings = args.settings or list(SETTINGS)
    if "1 thread" not in args.settings:
        args.settings = ["1 thread", *args.settings]  # the reference of every ratio
    if args.rounds < 1 or args.window <= 0 or args.busy < 0:
        parser.error("--rounds must be >= 1, --window > 0, --busy >= 0")
    return args


# ----------------------------------------------------------------------------------------------- the child
def child(setting: str, data_kind: str) -> None:
    """Build the step, then answer 'run SECONDS' lines on stdin with 'images/s threads' on stdout."""
    threads, _, late_env = SETTINGS[setting]
    import torch
    os.environ.update(late_env)  # too late for libgomp? that is what this setting measures
    import torch.nn.functional as F

    if threads == "auto":
        import vaecourse  # noqa: F401  (the first choice, then a re-check after every optimizer.step)
    else:
        torch.set_num_threads(threads)
    from vaecourse.models import VAE
    from vaecourse.objectives import beta_vae

    torch.manual_seed(0)
    model = VAE(latent_dim=10, encoder="conv32", image_shape=(1, 32, 32), logvar_bias=-4.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    if data_kind == "dsprites":
        from vaecourse.data import DSprites
        stream = DSprites().batches(BATCH, generator=torch.Generator().manual_seed(0))
        batches = (images for images, _ in stream)
    else:
        data = (torch.rand(1024, 1, 64, 64) > 0.5).float()
        batches = (data[torch.randint(len(data), (BATCH,))] for _ in itertools.count())

    def step():
        x = F.avg_pool2d(next(batches), 2)  # (B, 1, 32, 32), the notebook's pool()
        loss = beta_vae(model(x), x, beta=4.0).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        seconds = float(command[1])
        steps, started = 0, time.perf_counter()
        while steps < 2 or time.perf_counter() - started < seconds:
            step()
            steps += 1
        elapsed = time.perf_counter() - started
        print(f"{steps * BATCH / elapsed:.1f} {torch.get_num_threads()}", flush=True)


# ---------------------------------------------------------------------------------------------- the parent
def _cpu_busy() -> float:
    """Seconds the CPUs this benchmark may use were busy since boot (/proc/stat), 0 where unknown."""
    from vaecourse.threads import allowed_cpus, parse_proc_stat

    try:
        with open("/proc/stat") as handle:
            return parse_proc_stat(handle.read(), allowed_cpus(), os.sysconf("SC_CLK_TCK"))[0]
    except OSError:
        return 0.0


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` so far, 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _loadavg() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def start_busy(n: int, limit: float, nice: int = 0) -> list[subprocess.Popen]:
    code = f"import os, time\nos.nice({nice})\nend = time.monotonic() + {limit}\nwhile time.monotonic() < end:\n    pass\n"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]
    _CHILDREN.extend(procs)
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.kill()
        proc.wait()
        _CHILDREN.remove(proc)


def child_env(setting: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    threads, before, _ = SETTINGS[setting]
    env.update(before)
    if threads != "auto":
        env["VAECOURSE_THREADS"] = str(threads)  # importing vaecourse must not adapt the fixed settings
    return env


def measure(args, setting: str) -> dict:
    """One child: quiet window, then loaded window. Returns images/s, threads, loadavg, background cores."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", setting, "--data", args.data], env=child_env(setting),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    _CHILDREN.append(proc)
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the child for {setting!r} did not start (exit status {proc.wait()})")

    def window(competitors: list[subprocess.Popen]) -> dict:
        ours = [proc, *competitors]
        proc.stdin.write(f"run {args.settle}\n")
        proc.stdin.flush()
        proc.stdout.readline()
        busy0, own0, t0, load = _cpu_busy(), sum(_proc_cpu(p.pid) for p in ours), time.monotonic(), _loadavg()
        proc.stdin.write(f"run {args.window}\n")
        proc.stdin.flush()
        rate, threads = proc.stdout.readline().split()
        elapsed = time.monotonic() - t0
        background = (_cpu_busy() - busy0 - (sum(_proc_cpu(p.pid) for p in ours) - own0)) / elapsed
        return {"images_per_s": float(rate), "threads_at_end": int(threads), "loadavg": load,
                "background_cores": max(background, 0.0)}

    try:
        quiet = window([])
        competitors = start_busy(args.busy, args.busy_limit, args.busy_nice)
        try:
            loaded = window(competitors)
        finally:
            stop(competitors)
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _CHILDREN.remove(proc)
    return {"quiet": quiet, "loaded": loaded}


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child:
        child(args.child, args.data)
        return
    atexit.register(_kill_children)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print(f"chapter 2 step (conv32 beta-VAE, batch {BATCH}, data: {args.data}) on {len(os.sched_getaffinity(0))} cores; "
          f"{args.rounds} round(s), {args.window} s windows, loaded = {args.busy} busy process(es) at nice "
          f"{args.busy_nice}; "
          f"loadavg before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    results: dict[str, list[dict]] = {s: [] for s in args.settings}
    started = time.monotonic()
    for r in range(args.rounds):
        order = args.settings[r % len(args.settings):] + args.settings[:r % len(args.settings)]
        for setting in order:
            results[setting].append(measure(args, setting))
            m = results[setting][-1]
            print(f"  round {r + 1} {setting:<36} quiet {m['quiet']['images_per_s']:7.1f}  "
                  f"loaded {m['loaded']['images_per_s']:7.1f} img/s  (threads at end {m['quiet']['threads_at_end']}/"
                  f"{m['loaded']['threads_at_end']}; background cores {m['quiet']['background_cores']:.2f}/"
                  f"{m['loaded']['background_cores']:.2f}; loadavg {m['quiet']['loadavg']:.2f})", flush=True)
    reference = [m["quiet"]["images_per_s"] for m in results["1 thread"]]  # per round
    print(f"\nmedians over {args.rounds} round(s); ratio = images/s / quiet 1-thread images/s of the same round "
          f"({time.monotonic() - started:.0f} s in all)")
    print(f"{'setting':<36} {'quiet img/s':>11} {'ratio':>6} {'loaded img/s':>12} {'ratio':>6}  "
          f"{'bg cores q/l':>12} {'loadavg':>7}")
    for setting, runs in results.items():
        cells = []
        for load in ("quiet", "loaded"):
            rates = [m[load]["images_per_s"] for m in runs]
            ratio = statistics.median(rate / ref for rate, ref in zip(rates, reference))
            cells.append(f"{statistics.median(rates):>{11 if load == 'quiet' else 12}.0f} {ratio:>6.2f}")
        bg = "/".join(f"{statistics.median(m[load]['background_cores'] for m in runs):.2f}" for load in ("quiet", "loaded"))
        load = statistics.median(m["quiet"]["loadavg"] for m in runs)
        print(f"{setting:<36} {cells[0]} {cells[1]}  {bg:>12} {load:>7.2f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"args": {k: v for k, v in vars(args).items() if k != "child"}, "results": results}, handle, indent=1)


if __name__ == "__main__":
    main()

"""``make bench``: the SPEC §9 figures, measured side by side in one run.

    python -m benchmarks.run [--sizes 1000,10000,100000] [--exact-sizes 1000] [--work DIR]

For each size it generates an estate (cached under ``--work``, outside the repository) in
the default shape (1,000 peers per hub, sites numbered from the hub's aggregates with gaps,
``tests.yaml`` and one warning, so recompiles are measured on a tree that has both), and for
``--exact-sizes`` also the shape without aggregates; then it times
real ``mvpn`` subprocesses, because that is what users run:

- ``parse``: PyYAML's C loader alone over every file (:mod:`benchmarks.parse_only`),
- ``check``: ``mvpn check``,
- ``cold``: ``mvpn compile`` with a secret and QR codes on, into an empty output, no cache
  (earlier builds are set aside, and deleted only after the last timing: :func:`set_aside`),
- ``noop``: the same compile again, nothing changed,
- ``onepeer``: the same compile after one peer file changed (a ``key_epoch`` bump), in the
  steady state of repeated edits (``onepeer_first``: the first edit after a cold compile),
- ``added``: the same compile after one site was added inside the aggregates (its file made
  by ``mvpn allocate`` from ``subnets: [auto/24]``; another site in each run), with the number
  of files it wrote,

plus the peak memory of the cold compile (summed PSS of the process and its children,
sampled every 50 ms) and the output bytes per peer. Figures are the best of ``--repeat`` runs
(a loaded machine only adds time). It prints the ratios against their targets and writes
``benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import diagnostics, generate

REPO = Path(__file__).resolve().parents[1]
PEERS_PER_INSTANCE = 1000
SECRET = base64.b64encode(b"mvpn-benchmark-secret-not-a-real-one!").decode()
GiB = 1 << 30


def _pss(pid: int) -> int:
    """Proportional set size of one process in bytes (shared pages split among sharers)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _descendants_memory(pid: int) -> int:
    """Memory of ``pid`` and every process below it: the sum of their PSS.

    PSS, not RSS: forked workers share the parent's pages, and summing RSS would count
    those pages once per process.
    """
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += _pss(current)
        todo.extend(children.get(current, []))
    return total


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Run ``argv``; returns (seconds, peak memory in bytes). Fails loudly on exit != 0.

    Dirty pages of earlier runs are flushed first: a run is charged for its own writes only.
    """
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=REPO)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _descendants_memory(proc.pid))
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed ({proc.returncode}):\n"
                         f"{out.decode()[-2000:]}{err.decode()[-2000:]}")
    return elapsed, peak


@dataclasses.dataclass
class Size:
    """The figures of one estate size (seconds, bytes)."""

    peers: int
    instances: int
    shape: str = "aggregates"
    files_in: int = 0
    files_out: int = 0
    parse: float = 0.0
    check: float = 0.0
    cold: float = 0.0
    noop: float = 0.0
    onepeer: float = 0.0
    onepeer_first: float = 0.0
    added: float = 0.0
    added_files: int = 0
    bytes_out: int = 0
    peak_rss: int = 0


def estate(work: Path, peers: int, seed: int, shape: str = "aggregates") -> Path:
    """The generated estate of ``peers`` peers (generated once, then reused)."""
    stamp = hashlib.sha256(Path(generate.__file__).read_bytes()).hexdigest()[:8]
    root = work / f"estate-{peers}-{shape}-s{seed}-g{stamp}"
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        instances = max(1, peers // PEERS_PER_INSTANCE)
        generate.main([str(root), "--instances", str(instances), "--peers", str(peers),
                       "--seed", str(seed), *(["--no-aggregates"] if shape == "exact" else [])])
        (root / ".complete").touch()
    return root


#: Where cleaned outputs wait until every figure is taken (see :func:`set_aside`).
TRASH = "trash"


def set_aside(work: Path, *paths: Path) -> None:
    """Move ``paths`` out of the way for good; they are deleted after the last timing.

    Deleting a build right before timing the next one would measure the file system, not
    mvpn: on ext4 without a journal (this project's CI machines) the kernel does not reuse
    an inode for 60-300 s after its file was deleted, and scans past every such inode on each
    create. Measured there: 20,000 files created in 0.4 s normally, 6-14 s right after
    20,000 others were deleted. A cold compile into a new folder is what a user's first
    compile does; renaming the old build away costs nothing and frees no inode.
    """
    trash = work / TRASH
    trash.mkdir(exist_ok=True)
    for path in paths:
        if path.exists():
            path.rename(trash / f"{len(list(trash.iterdir()))}-{path.name}")


def empty_trash(work: Path) -> None:
    """Delete what :func:`set_aside` kept (after the timings, or left by a killed run)."""
    shutil.rmtree(work / TRASH, ignore_errors=True)


def new_sites(root: Path, env: dict[str, str], count: int) -> list[tuple[Path, bytes]]:
    """``count`` new sites inside the aggregates of one instance, numbered by `mvpn allocate`.

    Each timing adds another one: a site added again after it was removed would find its
    files in the build kept beside the output (the spare), which is not what adding a site
    costs. The files are written, allocated together (subnets and addresses, each also valid
    alone) and their final bytes returned; the caller adds and removes them one at a time.
    The tree's own files are left as they were.
    """
    dirs = [p for p in sorted(root.iterdir()) if p.is_dir()
            and "wireguard:" in (p / "instance.yaml").read_text(encoding="utf-8")]
    inst = dirs[len(dirs) // 2]  # a WireGuard hub: the new site's protocol
    paths = [inst / "peers" / f"zz-bench-new-site-{i}.yaml" for i in range(count)]
    for i, path in enumerate(paths):
        path.write_text(f"type: site\nsite: zz-bench-new-site-{i}\nsubnets: [auto/24]\n")
    try:
        subprocess.run([sys.executable, "-m", "compiler", "allocate", str(root)], env=env,
                       cwd=REPO, check=True, capture_output=True)
        return [(path, path.read_bytes()) for path in paths]
    finally:
        for path in paths:
            path.unlink()


def one_peer(root: Path) -> tuple[Path, bytes]:
    """A site peer file to change, and its original bytes (restored afterwards)."""
    dirs = sorted(p for p in root.iterdir() if p.is_dir())
    inst = dirs[len(dirs) // 3]
    for path in sorted((inst / "peers").iterdir()):
        data = path.read_bytes()
        if b"type: site" in data:
            return path, data
    raise SystemExit(f"bench: no site peer in {inst}")


def _written(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Run a compile; (seconds, files it wrote), from its summary line."""
    os.sync()
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    found = re.search(r"; (\d+) written,", proc.stdout)
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"bench: {' '.join(argv)} failed ({proc.returncode}):\n"
                         f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return elapsed, int(found.group(1))


def measure(work: Path, peers: int, seed: int, repeat: int, shape: str = "aggregates") -> Size:
    """Every figure for one size."""
    root = estate(work, peers, seed, shape)
    out = work / f"out-{peers}-{shape}"
    py = sys.executable
    mvpn = [py, "-m", "compiler"]
    env = {**os.environ, "MVPN_SECRET": SECRET}
    size = Size(peers, max(1, peers // PEERS_PER_INSTANCE), shape)
    size.files_in = sum(len(files) for _d, _s, files in os.walk(root))

    def best(argv: list[str], before: Any = None) -> tuple[float, int]:
        runs = []
        for _ in range(repeat):
            if before is not None:
                before()
            runs.append(timed(argv, env))
        return min(r[0] for r in runs), max(r[1] for r in runs)

    def clean() -> None:
        set_aside(work, out, work / ".mvpn-cache")

    compile_argv = [*mvpn, "compile", str(root), "-o", str(out)]  # QR codes on
    size.parse = best([py, "-m", "benchmarks.parse_only", str(root)])[0]
    size.check = best([*mvpn, "check", str(root)])[0]
    size.cold, size.peak_rss = best(compile_argv, clean)
    size.files_out = sum(len(files) for _d, _s, files in os.walk(out))
    size.bytes_out = sum(os.path.getsize(os.path.join(d, f))
                         for d, _s, files in os.walk(out) for f in files)
    size.noop = best(compile_argv)[0]
    path, original = one_peer(root)
    bumps = iter(range(2, 4 + 2 * repeat))

    def change() -> None:
        text = original.decode()
        epoch = next(bumps)
        lines = [ln for ln in text.splitlines() if not ln.startswith("key_epoch:")]
        path.write_text("\n".join([*lines, f"key_epoch: {epoch + 10}"]) + "\n")

    try:
        # The first incremental compile after a cold one links every unchanged file into a
        # new stage; later ones update the build kept beside (the spare) in place.
        change()
        size.onepeer_first = timed(compile_argv, env)[0]
        size.onepeer = best(compile_argv, change)[0]
    finally:
        path.write_bytes(original)
    if shape == "aggregates":
        sites = new_sites(root, env, repeat)
        runs = []
        try:
            for site_path, site in sites:
                timed(compile_argv, env)  # the tree without a new site, compiled
                site_path.write_bytes(site)
                runs.append(_written(compile_argv, env))
                site_path.unlink()
        finally:
            for site_path, _site in sites:
                site_path.unlink(missing_ok=True)
        size.added, size.added_files = min(runs)
    return size


TARGETS = (
    ("check ÷ C-loader parse", "check_vs_parse", 1.6),
    ("compile ÷ check", "compile_vs_check", 3.0),
    ("no-op recompile ÷ cold", "noop_vs_cold", 0.10),
    ("one-peer recompile ÷ cold", "onepeer_vs_cold", 0.15),
    ("site added ÷ cold", "added_vs_cold", 0.05),
)


def ratios(s: Size) -> dict[str, float]:
    """The SPEC §9 ratios of one size."""
    return {"check_vs_parse": s.check / s.parse, "compile_vs_check": s.cold / s.check,
            "noop_vs_cold": s.noop / s.cold, "onepeer_vs_cold": s.onepeer / s.cold,
            "added_vs_cold": s.added / s.cold}


def table(sizes: list[Size]) -> str:
    """The printed report: raw times, then ratios against targets."""
    head = f"{'':36}" + "".join(f"{f'{s.peers:,}' + ('' if s.shape == 'aggregates' else ' x'):>12}"
                                for s in sizes)
    rows = [head, f"{'instances / input files':36}"
            + "".join(f"{f'{s.instances}/{s.files_in}':>12}" for s in sizes),
            f"{'output files':36}" + "".join(f"{s.files_out:>12,}" for s in sizes),
            f"{'output bytes per peer':36}" + "".join(f"{s.bytes_out // max(s.peers, 1):>12,}"
                                                       for s in sizes)]
    for label, attr in (("parse (C loader) s", "parse"), ("mvpn check s", "check"),
                        ("mvpn compile (cold, QR) s", "cold"), ("recompile, no-op s", "noop"),
                        ("recompile, one peer s", "onepeer"),
                        ("  (first after a cold compile) s", "onepeer_first"),
                        ("recompile, site added s", "added")):
        rows.append(f"{label:36}" + "".join(
            f"{getattr(s, attr):>12.2f}" if attr != "added" or s.shape == "aggregates"
            else f"{'-':>12}" for s in sizes))
    rows.append(f"{'  files written (≤ 6)':36}" + "".join(
        f"{s.added_files if s.shape == 'aggregates' else '-':>12}" for s in sizes))
    rows.append(f"{'peak memory MiB':36}" + "".join(f"{s.peak_rss / 2**20:>12.0f}"
                                                    for s in sizes))
    rows.append("")
    rows.append(f"{'ratio (target)':36}" + "".join(f"{s.peers:>12,}" for s in sizes))
    for label, key, target in TARGETS:
        cells = "".join(f"{'-':>12}" if key == "added_vs_cold" and s.shape != "aggregates"
                        else f"{ratios(s)[key]:>11.2f}{'*' if ratios(s)[key] > target else ' '}"
                        for s in sizes)
        rows.append(f"{f'{label} (≤ {target})':36}" + cells)
    by = {s.peers: s for s in sizes if s.shape == "aggregates"}
    if 10_000 in by and 100_000 in by:
        for what in ("check", "cold"):
            r = getattr(by[100_000], what) / getattr(by[10_000], what)
            rows.append(f"{f'{what} 100k ÷ 10k (≤ 11)':36}{r:>12.2f}{'*' if r > 11 else ''}")
        r = (by[100_000].bytes_out / 100_000) / (by[10_000].bytes_out / 10_000)
        rows.append(f"{'bytes/peer 100k ÷ 10k (≤ 1.1)':36}{r:>12.2f}{'*' if r > 1.1 else ''}")
    if 100_000 in by:
        mem = by[100_000].peak_rss / GiB
        rows.append(f"{'peak memory 100k GiB (≤ 1.0)':36}{mem:>12.2f}{'*' if mem > 1.0 else ''}")
    rows.append("(* = target missed; x = the shape without aggregates)")
    return "\n".join(rows)


def above_legend(text: str, line: str) -> str:
    """``text`` (a :func:`table`) with ``line`` added as the last row, above its legend."""
    head, legend = text.rsplit("\n(* = target missed", 1)
    return f"{head}\n{line}\n(* = target missed{legend}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--sizes", default=os.environ.get("SIZES", "1000,10000,100000"))
    parser.add_argument("--work", type=Path, default=Path(
        os.environ.get("MVPN_BENCH_DIR", Path(os.environ.get("TMPDIR", "/tmp")) / "mvpn-bench")))
    parser.add_argument("--exact-sizes", default=os.environ.get("EXACT_SIZES", "1000"),
                        help="sizes also measured without aggregates (large output: 114 MB "
                        "per hub of 1,000 peers)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=0,
                        help="runs per figure, best kept (default: 3 below 100k, else 2)")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results.json")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    args.work.mkdir(parents=True, exist_ok=True)
    results: list[Size] = []
    exact = {int(s) for s in args.exact_sizes.split(",") if s}
    empty_trash(args.work)  # a killed run's; what this run sets aside goes after the timings
    try:
        text = _run(args, sizes, exact, results)
    finally:
        empty_trash(args.work)
    load = os.getloadavg()
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
               f", load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")
    print(text)
    print(machine)
    args.output.write_text(json.dumps({
        "machine": machine,
        "sizes": [{**dataclasses.asdict(s), **ratios(s)} for s in results],
        "table": text,
    }, indent=2) + "\n", encoding="utf-8")
    return 0


def _run(args: argparse.Namespace, sizes: list[int], exact: set[int],
         results: list[Size]) -> str:
    """Every size's figures into ``results``; returns the printed table."""
    for peers in sizes:
        repeat = args.repeat or (3 if peers < 100_000 else 2)
        for shape in ("aggregates", "exact"):
            if shape == "exact" and peers not in exact:
                continue
            print(f"bench: {peers:,} peers, {shape} ({repeat} run(s) per figure)…",
                  file=sys.stderr)
            results.append(measure(args.work, peers, args.seed, repeat, shape))
    text = table(results)
    print("bench: 10,000 diagnostics in one file…", file=sys.stderr)
    clean, bad = diagnostics.measure(args.work)
    return above_legend(text, diagnostics.row(clean, bad))


if __name__ == "__main__":
    sys.exit(main())

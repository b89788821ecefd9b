"""Install size and first-load time of each candidate default Keras backend, in fresh venvs.

    python benchmarks/install_backends.py [--workdir /tmp/mrz-install-bench] [--repeats 3]
        [--json results/install-backends.json] [--skip-cuda-torch-report]

For each candidate it builds a fresh venv with this checkout's wheel, the project's own
dependencies (pyproject's, less any backend it names) and the backend, then measures
- size: `du -sm` of the venv's site-packages (the project and its own deps included);
  the "base" row is the same venv with no backend, so a row's increment is the backend's;
- first load: in a fresh process (outside the checkout, KERAS_BACKEND set, offline),
  `import sdk; sdk.load("samplecnn-msd").embed(<the test excerpt>)`, median of --repeats;
  timed inside the process from before `import sdk` (import / load / embed split), with
  the CPU time of the same span (time.process_time: user + system, all threads; less
  sensitive than wall time to what else the machine runs). The process then embeds the
  excerpt again, timed apart (the steady state once shapes are compiled, which a catalog
  of many files mostly runs in); "process" is the whole process's wall time, interpreter
  start and that second embed included. The runs go
  round-robin over the candidates, so a change in the machine's other load hits all alike.
It also records each backend's embedding, and the cosine between backends' embeddings.

`torch` is the CPU build (torch==2.13.0, which pip takes from this machine's disk). What a
plain `pip install torch` would bring on this x86_64 Linux, a CUDA build, is reported from
pip's resolver (`--dry-run --report`, nothing installed): the packages and the summed size
of the wheels that lie in local indexes (those only on PyPI are counted, not sized).

Prints a table, then one JSON line (what --json saves). A benchmark, not a test: it takes a
few minutes and the figures depend on the machine and its other load.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT / "tests" / "data" / "drascula_track2_30s-42s.ogg"
BACKEND_PACKAGES = {"jax", "jaxlib", "tensorflow", "tensorflow-cpu", "torch"}
# name -> (KERAS_BACKEND, pip requirements for the backend)
CANDIDATES = {
    "base": (None, []),
    "jax": ("jax", ["jax", "jaxlib"]),
    "tensorflow": ("tensorflow", ["tensorflow-cpu"]),
    "torch": ("torch", ["torch==2.13.0"]),
}
VERSIONED = ["jax", "jaxlib", "tensorflow-cpu", "tensorflow", "torch", "keras", "numpy", "ml-dtypes"]

LOAD_SNIPPET = r"""
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import sdk
t1 = time.perf_counter()
model = sdk.load("samplecnn-msd")
t2 = time.perf_counter()
vector = model.embed(sys.argv[1])
t3, c3 = time.perf_counter(), time.process_time()
again = model.embed(sys.argv[1])  # not part of the first load: the steady state, shapes compiled
t4 = time.perf_counter()
import keras
print(json.dumps({"backend": keras.backend.backend(), "import_s": t1 - t0, "load_s": t2 - t1,
                  "embed_s": t3 - t2, "total_s": t3 - t0, "cpu_s": c3 - c0, "second_embed_s": t4 - t3,
                  "embedding": [float(x) for x in vector]}))
"""


def run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(map(str, cmd))}\n{result.stdout}\n{result.stderr}")
    return result


def base_requirements():
    """pyproject's dependencies, less the backend packages (each candidate adds its own)."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [d for d in deps if re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0].lower() not in BACKEND_PACKAGES]


def _ignored(directory, names):
    """What a copy of the checkout leaves out: VCS, venvs, build leftovers (setuptools would ship a
    stale build/lib), fetched data and runs."""
    top = {".git", ".venv", "build", "dist", "data", "runs"} if Path(directory) == ROOT else set()
    return [n for n in names if n in top or n in ("__pycache__", ".pytest_cache") or n.endswith(".egg-info")]


def build_wheel(workdir):
    """The project's wheel, built from a copy of the checkout (the build writes build/ and *.egg-info)."""
    src, dist = workdir / "src", workdir / "dist"
    for path in (src, dist):
        shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(ROOT, src, ignore=_ignored)
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist),
         str(src)])
    (wheel,) = dist.glob("music_retrieval_zoo-*.whl")
    return wheel


def site_packages(venv):
    (path,) = (venv / "lib").glob("python3*/site-packages")
    return path


def make_venv(venv, requirements, wheel):
    """A fresh venv with `requirements` and the project's wheel (no deps: they are listed)."""
    shutil.rmtree(venv, ignore_errors=True)
    start = time.perf_counter()
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    run(pip + requirements)
    run(pip + ["--no-deps", str(wheel)])
    return time.perf_counter() - start


def versions(venv):
    listed = json.loads(run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"]).stdout)
    names = {p["name"].lower().replace("_", "-"): p["version"] for p in listed}
    return {name: names[name] for name in VERSIONED if name in names}


def du_mb(path):
    return int(run(["du", "-sm", str(path)]).stdout.split()[0])


def first_load(venv, keras_backend, workdir):
    """One fresh process: import sdk, load samplecnn-msd by name, embed the excerpt (then again)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND")}
    env.update(KERAS_BACKEND=keras_backend, KERAS_HOME=str(workdir / "keras-home"), HF_HUB_OFFLINE="1",
               TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    out = run([str(venv / "bin" / "python"), "-c", LOAD_SNIPPET, str(AUDIO)], cwd=workdir, env=env).stdout
    wall = time.perf_counter() - start
    return {**json.loads(out.strip().splitlines()[-1]), "process_s": wall}


def cuda_torch_report(workdir, venv):
    """What plain `pip install torch` resolves to here (dry run: nothing is downloaded or installed)."""
    report = workdir / "torch-dry-run.json"
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
         "--report", str(report), "torch"])
    packages, local_bytes, unsized = [], 0, []
    for item in json.loads(report.read_text())["install"]:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        url = urlparse(item["download_info"]["url"])
        packages.append(f"{name}=={version}")
        if url.scheme == "file" and Path(unquote(url.path)).is_file():
            local_bytes += Path(unquote(url.path)).stat().st_size
        else:
            unsized.append(name)
    return {"requirement": "torch", "packages": packages,
            "cuda_packages": [p for p in packages if p.startswith(("nvidia", "cuda", "triton"))],
            "wheels_mb_sized": round(local_bytes / 2**20), "unsized_wheels": unsized}


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (sum(x * x for x in a) ** 0.5 * sum(y * y for y in b) ** 0.5)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/mrz-install-bench"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--json", type=Path, help="also save the JSON line here")
    parser.add_argument("--skip-cuda-torch-report", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the venvs (they take ~2 GB)")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    loadavg_at_start = [round(x, 2) for x in os.getloadavg()]
    wheel = build_wheel(workdir)
    base = base_requirements()
    rows, venvs = {}, {}
    for name in args.candidates:
        keras_backend, extra = CANDIDATES[name]
        venv = venvs[name] = workdir / f"venv-{name}"
        print(f"[{name}] venv with {' '.join(extra) or 'no backend'} ...", file=sys.stderr, flush=True)
        install_s = make_venv(venv, base + extra, wheel)
        rows[name] = {"requirements": extra, "versions": versions(venv), "site_packages_mb": du_mb(site_packages(venv)),
                      "install_s": round(install_s, 1)}
        if name == "torch" and not args.skip_cuda_torch_report:
            rows[name]["plain_pypi_torch"] = cuda_torch_report(workdir, venv)

    # First loads round-robin (jax, tensorflow, torch, jax, ...): the machine's other load, which
    # varies over minutes, then weighs on every backend alike.
    loaded = [n for n in args.candidates if CANDIDATES[n][0]]
    loads = {name: [] for name in loaded}
    for repeat in range(args.repeats):
        for name in loaded:
            print(f"[{name}] first load {repeat + 1}/{args.repeats} ...", file=sys.stderr, flush=True)
            result = first_load(venvs[name], CANDIDATES[name][0], workdir)
            assert result["backend"] == CANDIDATES[name][0], result["backend"]
            loads[name].append(result)
    for name in loaded:
        row = rows[name]
        for key in ("import_s", "load_s", "embed_s", "total_s", "second_embed_s", "process_s", "cpu_s"):
            row[f"{key}_median"] = round(statistics.median(r[key] for r in loads[name]), 2)
        row["total_s_runs"] = [round(r["total_s"], 2) for r in loads[name]]
        row["cpu_s_runs"] = [round(r["cpu_s"], 2) for r in loads[name]]
        row["embedding"] = loads[name][0]["embedding"]
    if not args.keep:
        for venv in venvs.values():
            shutil.rmtree(venv)

    if "base" in rows:
        for row in rows.values():
            row["backend_mb"] = row["site_packages_mb"] - rows["base"]["site_packages_mb"]
    embedded = [n for n in rows if "embedding" in rows[n]]
    agreement = {f"{a}~{b}": round(cosine(rows[a]["embedding"], rows[b]["embedding"]), 7)
                 for i, a in enumerate(embedded) for b in embedded[i + 1:]}
    for name in embedded:
        rows[name]["embedding_size"] = len(rows[name].pop("embedding"))

    print(f"\n{'candidate':<12}{'site-packages MB':>17}{'backend MB':>11}{'import s':>9}{'load s':>8}"
          f"{'embed s':>8}{'total s':>8}{'process s':>10}{'CPU s':>7}{'2nd embed s':>12}{'install s':>10}  versions")
    for name, row in rows.items():
        cells = [f"{row.get(k + '_median', float('nan')):.2f}" for k in ("import_s", "load_s", "embed_s", "total_s",
                                                                          "process_s", "cpu_s", "second_embed_s")]
        print(f"{name:<12}{row['site_packages_mb']:>17}{row.get('backend_mb', ''):>11}{cells[0]:>9}{cells[1]:>8}"
              f"{cells[2]:>8}{cells[3]:>8}{cells[4]:>10}{cells[5]:>7}{cells[6]:>12}{row['install_s']:>10.1f}  "
              + " ".join(f"{k} {v}" for k, v in row["versions"].items() if k not in ("numpy", "ml-dtypes")))
    print("(medians of the runs; total = import + load + embed, the first load; CPU = its user + system time, "
          "all threads; 2nd embed = the same excerpt again in that process; process = the whole process's wall "
          "time, interpreter start and 2nd embed included)")
    if "torch" in rows and "plain_pypi_torch" in rows["torch"]:
        report = rows["torch"]["plain_pypi_torch"]
        print(f"\nplain `pip install torch` here resolves to {report['packages'][0]} with "
              f"{len(report['cuda_packages'])} CUDA packages; wheels in local indexes alone: "
              f"{report['wheels_mb_sized']} MB (not sized, PyPI only: {', '.join(report['unsized_wheels']) or 'none'})")
    print(f"embedding cosine between backends: {agreement}")
    result = {"benchmark": "install_backends", "audio": str(AUDIO.relative_to(ROOT)), "preset": "samplecnn-msd",
              "repeats": args.repeats, "python": platform.python_version(), "machine": platform.machine(),
              "cpus": os.cpu_count(), "loadavg_at_start": loadavg_at_start, "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
              "base_requirements": base, "candidates": rows, "embedding_cosine": agreement}
    line = json.dumps(result)
    print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Child process of the alibi-detect MMD benchmark (run by test_bench_embedding.py with the python
of a separate virtualenv that has alibi-detect and a CPU backend; see UNDERTOW_BENCH_ALIBI_PYTHON).

Usage: python _alibi_child.py '{"x": "x.npy", "y": "y.npy", "permutations": 100,
                                "bandwidth": 12.3, "backend": "auto"}'

Runs alibi-detect's MMDDrift (x = reference, y = current) with a Gaussian RBF kernel of the given
bandwidth (alibi's GaussianRBF: exp(-||a - b||^2 / (2 sigma^2)), the kernel of undertow.mmd; the
sigma is passed explicitly so that alibi does not infer its own) and `permutations`
permutations. Measures, in this process:

* import_s   importing alibi_detect.cd and the backend;
* init_s     MMDDrift(x, ...): alibi computes the reference block of the kernel matrix here;
* predict_s  cd.predict(y): the rest of the kernel matrix and the permutations;
* total_s    init_s + predict_s (the figure compared with undertow.mmd);
* peak_extra_rss_mb  the kernel's RSS high-water mark (VmHWM, reset through
  /proc/self/clear_refs) during init + predict, minus the RSS just before (the same definition as
  benches/_memory.py; no sampler thread here), and max_rss_mb the whole process's peak.

Prints one JSON object on stdout (its last line); {"available": false, "error": ...} when
alibi-detect or the backend cannot be imported. Needs only numpy and alibi-detect.
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _hwm_bytes() -> int | None:
    try:
        with open("/proc/self/status") as f:
            match = re.search(r"^VmHWM:\s+(\d+)\s+kB", f.read(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def _import_backend(backend: str) -> str:
    order = ["tensorflow", "pytorch"] if backend == "auto" else [backend]
    errors = []
    for name in order:
        try:
            if name == "tensorflow":
                import tensorflow  # noqa: F401
            else:
                import torch  # noqa: F401
            return name
        except Exception as exc:  # ImportError, or a broken install
            errors.append(f"{name}: {exc!r}")
    raise ImportError("; ".join(errors))


def main() -> None:
    config = json.loads(sys.argv[1])
    out: dict = {"available": False}
    start = time.perf_counter()
    try:
        import numpy as np

        backend = _import_backend(config.get("backend", "auto"))
        import alibi_detect
        from alibi_detect.cd import MMDDrift
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc(limit=3)
        print(json.dumps(out))
        return
    out["import_s"] = time.perf_counter() - start
    out["available"] = True
    out["backend"] = backend
    out["alibi_detect_version"] = alibi_detect.__version__
    if backend == "tensorflow":
        import tensorflow as tf

        out["backend_version"] = tf.__version__
    else:
        import torch

        out["backend_version"] = torch.__version__
        torch.set_num_threads(os.cpu_count() or 1)

    x = np.load(config["x"])
    y = np.load(config["y"])
    sigma = np.array([config["bandwidth"]], dtype=np.float32)
    before = _rss_bytes()
    hwm_ok = _reset_hwm()
    t0 = time.perf_counter()
    kwargs = {"device": "cpu"} if backend == "pytorch" else {}
    detector = MMDDrift(
        x,
        backend=backend,
        p_val=0.05,
        sigma=sigma,
        configure_kernel_from_x_ref=False,
        n_permutations=int(config["permutations"]),
        **kwargs,
    )
    t1 = time.perf_counter()
    prediction = detector.predict(y, return_p_val=True, return_distance=True)
    t2 = time.perf_counter()
    hwm = _hwm_bytes() if hwm_ok else None
    data = prediction["data"]
    out.update(
        {
            "n_x": len(x),
            "n_y": len(y),
            "dtype": str(x.dtype),
            "permutations": int(config["permutations"]),
            "bandwidth": float(sigma[0]),
            "init_s": t1 - t0,
            "predict_s": t2 - t1,
            "total_s": t2 - t0,
            "mmd2": float(data["distance"]),
            "p_value": float(data["p_val"]),
            "is_drift": int(data["is_drift"]),
            "peak_extra_rss_mb": None if hwm is None else max(0, hwm - before) / 1e6,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6,
        }
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()

# One full-batch mirror-descent step (hypentropy map, exponential loss in
# log space, float64) in PyTorch on the CPU, written with autograd. Called
# once per case by bench/step_torch.R, which owns the data and the weights.
#
# Usage: python3 step_torch.py SPEC.json
# SPEC names the input file (raw little-endian doubles: x column-major as R
# holds it, then y, then each weight matrix column-major), the output file
# for the weights after the agreement steps, and the sizes and settings.
# The timings, the BLAS that torch loaded and the peak memory go to the
# JSON file SPEC["result"].

import json
import os
import sys
import time

import numpy as np
import torch


def status_kb(field):
    """A VmRSS or VmHWM line of /proc/self/status, in kB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def loaded_blas():
    """Shared objects of this process whose name says BLAS or LAPACK: the
    only sure way to see what torch's dgemm resolved to under LD_PRELOAD."""
    libs = set()
    with open("/proc/self/maps") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 6:
                name = os.path.basename(parts[5]).lower()
                if "blas" in name or "lapack" in name:
                    libs.add(parts[5])
    return sorted(libs)


def main():
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    torch.set_num_threads(int(spec["threads"]))
    torch.set_num_interop_threads(1)
    rss0 = status_kb("VmRSS")

    n, widths, beta = int(spec["n"]), [int(w) for w in spec["widths"]], \
        float(spec["beta"])
    d = widths[0]
    raw = np.fromfile(spec["input"], dtype="<f8")

    # R's column-major n x d matrix is a row-major d x n one: x^T. A user
    # holds x itself, n x d and contiguous, as torch.nn.Linear expects.
    x = torch.from_numpy(raw[:n * d].reshape(d, n).T.copy())
    y = torch.from_numpy(raw[n * d:n * d + n].copy())
    w0 = []
    pos = n * d + n
    for mi, mo in zip(widths[:-1], widths[1:]):
        w0.append(torch.from_numpy(
            raw[pos:pos + mo * mi].reshape(mi, mo).T.copy()))
        pos += mo * mi
    del raw

    # Reading made a second copy of x for a moment; peak memory from here
    # on is that of the steps (writing 5 resets VmHWM to the current RSS).
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass

    def duals(ws):
        return [torch.asinh(w / beta) for w in ws]

    # What a user would write: weights as leaves rebuilt from the duals each
    # step, the loss as exp(logsumexp(-q)) so that the gradient is that of
    # the loss itself, and the dual update outside the graph.
    def step(zs, eta):
        ws = [(beta * torch.sinh(z)).requires_grad_() for z in zs]
        h = x
        for w in ws[:-1]:
            h = torch.relu(h @ w.T)
        f = (h @ ws[-1].T).squeeze(1)
        q = y * f
        loss = torch.exp(torch.logsumexp(-q, 0))
        grads = torch.autograd.grad(loss, ws)
        with torch.no_grad():
            for z, g in zip(zs, grads):
                z.sub_(eta * g)

    def run(eta, k):
        zs = duals(w0)
        t0 = time.perf_counter()
        for _ in range(k):
            step(zs, eta)
        return time.perf_counter() - t0, zs

    # agreement steps, timed too: for a case whose step alone passes the
    # target they are the first of the measurements
    k_agree = int(spec["k_agree"])
    t_agree, zs = run(float(spec["eta_check"]), k_agree)
    with open(spec["output"], "wb") as fh:
        for z in zs:
            (beta * torch.sinh(z)).T.contiguous().numpy().astype("<f8") \
                .tofile(fh)

    target, reps, eta = float(spec["target_s"]), int(spec["reps"]), \
        float(spec["eta_time"])
    per_agree = t_agree / k_agree
    times = []
    if per_agree >= target:
        k = 1
        times.append(per_agree)
    else:
        # grow k until a run is long enough to time, then scale to target
        k = max(1, int(target / per_agree) // 4)
        while True:
            t, _ = run(eta, k)
            if t >= 0.05:
                break
            k *= 4
        k = max(1, int(np.ceil(k * target / t)))
    while len(times) < reps:
        t, _ = run(eta, k)
        times.append(t / k)

    res = {
        "per_step": times, "k": k, "agree_s": t_agree,
        "first_rep_is_agreement": per_agree >= target,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "blas_loaded": loaded_blas(), "rss0_kb": rss0,
        "hwm_kb": status_kb("VmHWM"), "pid": os.getpid()}
    with open(spec["result"], "w") as fh:
        json.dump(res, fh)


if __name__ == "__main__":
    main()

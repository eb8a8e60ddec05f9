"""Structurally valid but wrong HDF5 files: an activations file, an SAE file and a probe file written by
the CLI and a concept labels file in `concepts label`'s layout,
then every dataset deleted, made scalar, integer, string, mis-shaped, NaN-holding or huge-valued, and
every attribute deleted or given a string, array, negative, huge or fractional value (byte-level
mutation of HDF5 mostly hits checksums; these reach the readers). Each mutant goes through a
consumer (eval, encode, train, heatmap, in rotation) on the sanitizer build: the run either succeeds
or ends with exactly one error line naming the file (or, for a
mutated SAE attribute such as its hook, the activations file it no longer fits), never a crash, hang or sanitizer report.
Probe and labels files also get second names for their objects (a hard link to the same group or
dataset, a soft link, an external link into another file), which their readers refuse."""
import os
import shutil
import subprocess

import h5py
import numpy as np

import mstest
import fx_llama2c

T = os.path.join(mstest.TMP, "h5mut")
os.makedirs(T, exist_ok=True)
W, cfg = fx_llama2c.random_weights(32, 64, 2, 4, 2, 64, 32, seed=9)
MODEL = os.path.join(T, "m.bin")
fx_llama2c.write(MODEL, W, cfg)
IDS = os.path.join(T, "ids.txt")
rng = np.random.default_rng(3)
with open(IDS, "w") as f:
    for _ in range(40):
        f.write(" ".join(map(str, rng.integers(0, 64, int(rng.integers(8, 33))))) + "\n")
ACTS, SAE = os.path.join(T, "acts.h5"), os.path.join(T, "sae.h5")
mstest.run("capture", "--model", MODEL, "--input", IDS, "--input-format", "ids", "--ctx", 32, "--hooks",
           "blocks.1.hook_resid_post", "--out", ACTS, "--overwrite")
mstest.run("sae", "train", "--acts", ACTS, "--hook", "blocks.1.hook_resid_post", "--arch", "topk", "--k", 4,
           "--expansion", 2, "--batch", 64, "--tokens", "2k", "--out", SAE)
MUT = os.path.join(T, "mutant.h5")
LABELS, PROBE = os.path.join(T, "labels.h5"), os.path.join(T, "probe.h5")
with h5py.File(ACTS, "r") as f:
    tok = f["tokens"][:]
with h5py.File(LABELS, "w") as f:  # the layout `concepts label` writes (probes/labels.h)
    f["tokens"] = tok
    f.attrs["n_seq"], f.attrs["ctx"] = tok.shape
    f["concepts/even"] = ((tok >= 0) & (tok % 2 == 0)).astype(np.uint8)
    f["concepts/big"] = (tok >= 32).astype(np.uint8)
mstest.run("probe", "train", "--acts", ACTS, "--labels", LABELS, "--out", PROBE, "--overwrite")
ENV = {"ASAN_OPTIONS": "allocator_may_return_null=1:max_allocation_size_mb=2048:detect_leaks=0"}


def dataset_mutations(f):
    names = []
    f.visititems(lambda k, v: names.append(k))
    for name in names:
        yield f"delete {name}", lambda g, n=name: g.__delitem__(n)
        if not isinstance(f[name], h5py.Dataset):
            continue
        for how in ("scalar", "integer", "string", "shape", "nan", "huge"):
            yield f"{how} {name}", lambda g, n=name, h=how: replace_dataset(g, n, h)


def replace_dataset(g, name, how):
    a = np.asarray(g[name][()])
    del g[name]
    if how == "scalar":
        g[name] = np.float32(1)
    elif how == "integer":
        g[name] = a.astype(np.int64) if a.dtype.kind != "O" else np.int64(1)
    elif how == "string":
        g[name] = "x"
    elif how == "shape":
        g[name] = np.zeros((3,) + a.shape[1:], a.dtype) if a.ndim else np.zeros(3)
    else:
        b = a.copy()
        if b.size and b.dtype.kind == "f":
            b.flat[0] = np.nan if how == "nan" else 3e38
        elif b.size and b.dtype.kind in "iu" and how == "huge":
            b.flat[0] = np.iinfo(b.dtype).max
        g[name] = b


BAD_VALUES = (("string", "zz"), ("array", np.arange(5)), ("negative", -7), ("huge", 2 ** 62), ("fraction", 1.5))


def attribute_mutations(f, every_value):
    """Each attribute deleted and given every bad value (every_value) or, to bound the run time on the
    SAE file's many attributes, two of them in rotation."""
    objs = [""]
    f.visititems(lambda k, v: objs.append(k))
    n = 0
    for o in objs:
        for a in list((f[o] if o else f).attrs):
            where = f"{o or '/'}@{a}"
            yield f"delete {where}", lambda g, o=o, a=a: (g[o] if o else g).attrs.__delitem__(a)
            values = BAD_VALUES if every_value else [BAD_VALUES[n % 5], BAD_VALUES[(n + 2) % 5]]
            n += 1
            for how, v in values:
                yield f"{how} {where}", lambda g, o=o, a=a, v=v: (g[o] if o else g).attrs.__setitem__(a, v)


def consumers(acts, sae):
    return [["sae", "eval", "--sae", sae, "--acts", acts],
            ["sae", "encode", "--sae", sae, "--acts", acts, "--out", os.path.join(T, "codes.h5")],
            ["viz", "heatmap", "--sae", sae, "--acts", acts, "--seq", 0, "--out", os.path.join(T, "h.png")],
            ["sae", "train", "--acts", acts, "--hook", "blocks.1.hook_resid_post", "--k", 4, "--expansion", 2,
             "--batch", 64, "--tokens", 256, "--out", os.path.join(T, "t.h5")]]


def link_mutations(f, group):
    """A second name for each object of group: a hard link to it, a soft link, an external link (each
    must be refused in one line that says so)."""
    for name in list(f[group]):
        yield f"hard link {group}/{name}", lambda g, n=name: g[group].__setitem__(n + "_again", g[group][n])
        yield f"soft link {group}/{name}", lambda g, n=name: g[group].__setitem__(n + "_again", h5py.SoftLink(f"/{group}/{n}"))
        yield f"external link {group}/{name}", lambda g, n=name: g[group].__setitem__(
            n + "_again", h5py.ExternalLink(ACTS, "/tokens"))
        if group == "probes":  # a group of its own whose weights are another probe's datasets
            yield f"shared weights link {group}/{name}", lambda g, n=name: [
                g[group].require_group(n + "_again").__setitem__(w, g[group][n][w]) for w in ("weight", "weight_std")]


def probe_consumers(labels, probe):
    return [["sae", "match", "--sae", SAE, "--acts", ACTS, "--labels", labels, "--probe", probe, "--no-store"]]


def labels_consumers(labels):
    return [["probe", "train", "--acts", ACTS, "--labels", labels, "--out", os.path.join(T, "t.h5")],
            ["sae", "match", "--sae", SAE, "--acts", ACTS, "--labels", labels, "--no-store"]]


def mutate_and_run(src, kind):
    is_acts = kind == "acts"
    with h5py.File(src, "r") as f:
        muts = list(dataset_mutations(f)) + list(attribute_mutations(f, kind != "sae"))
        if kind in ("probe", "labels"):
            muts += list(link_mutations(f, "probes" if kind == "probe" else "concepts"))
    assert len(muts) > 20, len(muts)
    bad, i = [], 0
    for what, apply in muts:
        shutil.copy(src, MUT)
        with h5py.File(MUT, "r+") as g:
            apply(g)
        cmds = {"acts": lambda: consumers(MUT, SAE), "sae": lambda: consumers(ACTS, MUT)[:3],
                "probe": lambda: probe_consumers(LABELS, MUT), "labels": lambda: labels_consumers(MUT)}[kind]()
        cmd = cmds[i % len(cmds)]
        i += 1
        for q in (os.path.join(T, "t.h5"), os.path.join(T, "codes.h5"), os.path.join(T, "h.png")):
            if os.path.exists(q):
                os.remove(q)
        try:
            p = subprocess.run([mstest.BIN, *map(str, cmd)], capture_output=True, text=True, errors="replace",
                               timeout=120, env=dict(os.environ, **ENV))
        except subprocess.TimeoutExpired:
            bad.append(f"{what}: {cmd[:2]} hung")
            continue
        errors = [x for x in p.stderr.splitlines() if "error" in x.lower()]
        if p.returncode < 0 or p.returncode >= 128 or "Sanitizer" in p.stderr or "runtime error" in p.stderr:
            bad.append(f"{what}: {cmd[:2]} crashed rc={p.returncode}: {p.stderr[-400:]}")
        elif " link " in what and (p.returncode == 0 or len(errors) != 1 or "link" not in errors[0]):
            bad.append(f"{what}: {cmd[:2]} not refused as a second name: rc={p.returncode} {errors[:2]}")
        elif p.returncode != 0 and (len(errors) != 1 or not any(x in errors[0] for x in ("mutant.h5", "acts.h5", "labels.h5"))):
            bad.append(f"{what}: {cmd[:2]} gave {len(errors)} error lines: {errors[:3]}")
    assert not bad, f"{len(bad)} of {len(muts)} mutants mishandled:\n" + "\n".join(bad[:20])
    print(f"  {len(muts)} mutants of {os.path.basename(src)}, all handled", flush=True)


def libhdf5_crashers():
    """Files on which libhdf5 itself crashes (corrupt global heaps, attribute tables, a cache entry size;
    tests/fuzz/contained-libhdf5/README.md), through every consumer: each gives one error line naming it, or
    success (a Release libhdf5 may read past a corrupt structure without faulting), never a crash."""
    reg = os.path.join(mstest.SRC, "tests", "fuzz", "contained-libhdf5")
    bad, n, refused = [], 0, 0
    for kind in ("acts_h5", "sae_h5"):
        for name in sorted(os.listdir(os.path.join(reg, kind))):
            f = os.path.join(T, name + ".h5")
            shutil.copy(os.path.join(reg, kind, name), f)
            # an SAE file's /eval is read by `viz summary` without activations; the other three
            # consumers may first refuse the test's activations as not matching the dictionary
            cmds = consumers(f, SAE) if kind == "acts_h5" else consumers(ACTS, f)[:3] + [
                ["viz", "summary", "--sae", f, "--out", os.path.join(T, "summary")]]
            for cmd in cmds:
                n += 1
                p = subprocess.run([mstest.BIN, *map(str, cmd)], capture_output=True, text=True, errors="replace",
                                   timeout=120, env=dict(os.environ, **ENV))
                errors = [x for x in p.stderr.splitlines() if "error" in x.lower()]
                if p.returncode < 0 or p.returncode >= 128 or "Sanitizer" in p.stderr or "runtime error" in p.stderr:
                    bad.append(f"{name}: {cmd[:2]} crashed rc={p.returncode}: {p.stderr[-300:]}")
                elif p.returncode != 0 and (len(errors) != 1 or (name not in errors[0] and ACTS not in errors[0])):
                    bad.append(f"{name}: {cmd[:2]} gave {errors[:3]}")
                refused += p.returncode != 0 and "corrupt HDF5 file" in p.stderr
    assert not bad, "\n".join(bad)
    assert refused > 0, "no command reported a corrupt HDF5 file"
    print(f"  {n} runs on libhdf5-crashing files: none crashed, {refused} refused as corrupt HDF5", flush=True)


mstest.check("files libhdf5 crashes on: one error line (the metadata walk in a child), never a crash",
             libhdf5_crashers)
mstest.check("activations file: every dataset and attribute mutated, one error line or success",
             lambda: mutate_and_run(ACTS, "acts"))
mstest.check("SAE file: every dataset and attribute mutated, one error line or success",
             lambda: mutate_and_run(SAE, "sae"))
mstest.check("labels file: every dataset and attribute mutated, objects given second names; one error line or success",
             lambda: mutate_and_run(LABELS, "labels"))
mstest.check("probe file: every dataset and attribute mutated, probes given second names; one error line or success",
             lambda: mutate_and_run(PROBE, "probe"))
mstest.finish()

"""Embedding: `cmake --install` of this test's build tree into a temporary prefix, then
docs/examples/hook_example.c (the README's Embedding example, verbatim) compiled with nothing but
`cc $(pkg-config --cflags --libs monoscope)` against the installed shared libmonoscope and run on a
tiny random GPT-2: its next-token logits with one head of hook_z zeroed equal tests/py/torch_ref.py
with the same edit (float64), and an out-of-range head aborts the pass with an error."""
import os
import shutil
import subprocess

import numpy as np
import torch

import mstest
from mstest import check, finish, run
import fx_hf
import torch_ref

TMP = mstest.TMP
BUILD = os.path.dirname(os.path.abspath(mstest.BIN))
PREFIX = os.path.join(TMP, "p")
EXAMPLE = os.path.join(mstest.SRC, "docs", "examples", "hook_example.c")
V, CTX, C = 64, 32, 32
IDS = [5, 17, 3, 60, 22, 9, 41]
state = {}


def sh(*args, env=None):
    p = subprocess.run(list(map(str, args)), capture_output=True, text=True, env=env)
    assert p.returncode == 0, f"{' '.join(map(str, args))} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p.stdout


def install():
    shutil.rmtree(PREFIX, ignore_errors=True)
    sh("cmake", "--install", BUILD, "--prefix", PREFIX)
    pcs = [os.path.join(d, f) for d, _, fs in os.walk(PREFIX) for f in fs if f == "monoscope.pc"]
    assert len(pcs) == 1, pcs
    state["pcdir"] = os.path.dirname(pcs[0])
    state["libdir"] = os.path.dirname(state["pcdir"])
    for h in ("model/model.h", "util/util.h", "model/intervene.h", "sae/sae.h"):
        assert os.path.exists(os.path.join(PREFIX, "include", "monoscope", h)), h
    assert any(f.startswith("libmonoscope.so") for f in os.listdir(state["libdir"]))
    out = sh(os.path.join(PREFIX, "bin", "monoscope"), "--version")
    assert out.startswith("monoscope "), out


def compile_example():
    env = dict(os.environ, PKG_CONFIG_PATH=state["pcdir"])
    flags = sh("pkg-config", "--cflags", "--libs", "monoscope", env=env).split()
    exe = os.path.join(TMP, "hook_example")
    sh("cc", "-std=c11", "-Wall", "-Wextra", "-Werror", EXAMPLE, "-o", exe, *flags)
    state["exe"] = exe


def example_logits():
    W, cfg = fx_hf.gpt2_weights(C, 2, 4, 64, V, CTX, seed=9)
    model = os.path.join(TMP, "gpt2")
    Ws = fx_hf.write_hf(model, W, cfg)
    env = dict(os.environ, LD_LIBRARY_PATH=state["libdir"])
    out = sh(state["exe"], model, "blocks.1.attn.hook_z", 2, *IDS, env=env)
    got = np.array([float(ln.split()[1]) for ln in out.splitlines()])
    assert [int(ln.split()[0]) for ln in out.splitlines()] == list(range(V))

    def zero(t):
        t[:, :, 2, :] = 0
        return t
    ref, _ = torch_ref.forward(Ws, cfg, IDS, edits={"blocks.1.attn.hook_z": zero})
    clean, _ = torch_ref.forward(Ws, cfg, IDS)
    fx_hf.assert_close("example logits", got, ref[-1])
    assert np.abs(ref[-1] - clean[-1]).max() > 1e-3, "zeroing the head changed nothing: a vacuous test"
    p = subprocess.run([state["exe"], model, "blocks.1.attn.hook_z", "4", *map(str, IDS)], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 1 and "stopped the forward pass" in p.stderr, p.stderr


def readme_has_example():
    readme = open(os.path.join(mstest.SRC, "README.md")).read()
    assert open(EXAMPLE).read() in readme, "README's Embedding example differs from docs/examples/hook_example.c"


check("cmake --install into a temporary prefix", install)
check("the example compiles with pkg-config's flags only", compile_example)
check("the example's edited logits equal torch_ref's", example_logits)
check("README shows docs/examples/hook_example.c verbatim", readme_has_example)
finish()

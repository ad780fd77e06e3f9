"""The rule-to-library prologue: a rule's named files and params become the function's keywords."""

import pytest
from snakemake.iocontainers import Namedlist

from workflow_lib.step import arguments


def named(**items):
    return Namedlist(fromdict=items)


def image(*, ms, skymodel, out, niter, casa_log=None, threads=1, params=None):
    return locals()


def test_named_files_params_logs_and_threads_become_keywords():
    kwargs = arguments(image, "r", named(ms="a.ms", skymodel="s.fits"), named(out="o.fits"),
                       named(step="x:image", niter=5), named(main="r.log", casa="r.casa.log"), 3)
    assert kwargs == {"ms": "a.ms", "skymodel": "s.fits", "out": "o.fits", "niter": 5, "casa_log": "r.casa.log",
                      "threads": 3, "params": {"niter": 5}}


def test_a_param_the_function_does_not_take_is_recorded_only():
    kwargs = arguments(image, "r", named(ms="a.ms", skymodel="s.fits"), named(out="o.fits"),
                       named(step="x:image", niter=5, seed=7), named(), 1)
    assert "seed" not in kwargs and kwargs["params"] == {"niter": 5, "seed": 7}


def test_a_file_the_function_does_not_take_is_an_error():
    with pytest.raises(TypeError, match="rule r: .*image takes no argument 'psf' \\(named output\\)"):
        arguments(image, "r", named(ms="a.ms", skymodel="s.fits"), named(out="o.fits", psf="p.fits"),
                  named(niter=1), named(), 1)


def test_a_name_given_twice_is_an_error():
    with pytest.raises(TypeError, match="'ms' is both a named input and a named output"):
        arguments(image, "r", named(ms="a.ms"), named(ms="b.ms"), named(), named(), 1)


def test_a_recorded_only_param_needs_a_function_that_records():
    def bare(*, ms):
        return ms

    with pytest.raises(TypeError, match="takes no argument 'seed' \\(named params\\)"):
        arguments(bare, "r", named(ms="a.ms"), named(), named(seed=1), named(), 1)

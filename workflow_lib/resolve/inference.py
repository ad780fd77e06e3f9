"""Variational inference with ``nifty8.optimize_kl`` (MGVI, or geoVI with a non-linear sampling minimiser).

The schedule is a list of phases, each lasting some global iterations with its
own number of samples and minimiser limits (a first phase with 0 samples is a
MAP-like start). State lives in a directory that survives a killed job: a rerun
with the same parameters and data resumes after the last finished iteration; a
different fingerprint starts afresh. Each iteration logs its energy and reduced
chi-square; samples are spread over MPI ranks when mpi4py runs more than one.
Each Newton step builds its samples' metrics once (:func:`cached_kl_metric`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from pathlib import Path

import nifty8 as ift
import numpy as np
from nifty8 import utilities
from nifty8.minimization import kl_energies

from .likelihood import Likelihood

log = logging.getLogger(__name__)


def mpi_communicator():
    """MPI.COMM_WORLD when running under mpirun with more than one rank, else None."""
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


def is_master(comm) -> bool:
    return comm is None or comm.Get_rank() == 0


def phase_at(schedule: list[dict], iteration: int) -> dict:
    end = 0
    for phase in schedule:
        end += phase["iterations"]
        if iteration < end:
            return phase
    raise IndexError(f"iteration {iteration} is past the schedule ({end} iterations)")


def total_iterations(schedule: list[dict]) -> int:
    return sum(p["iterations"] for p in schedule)


def _kl_minimizer(phase):
    controller = ift.AbsDeltaEnergyController(0.5, convergence_level=2, iteration_limit=phase["kl_iterations"],
                                              name="KL")
    if phase["minimizer"] == "lbfgs":
        return ift.L_BFGS(controller)
    return ift.NewtonCG(controller)


def _sampling_controller(phase):
    if phase["samples"] == 0:
        return None
    return ift.AbsDeltaEnergyController(0.05, iteration_limit=phase["sampling_iterations"], name="sampling")


def _geovi_minimizer(phase):
    if phase["geovi_iterations"] == 0:
        return None
    return ift.NewtonCG(ift.AbsDeltaEnergyController(0.5, iteration_limit=phase["geovi_iterations"], name="geoVI"))


def _cached_apply_metric(energy: kl_energies.SampledKLEnergyClass, x):
    """``SampledKLEnergyClass.apply_metric`` with each sample's Hamiltonian metric built once per energy.

    NIFTy 8.5's own linearises the whole model at every sample for every conjugate-gradient step of a
    Newton step (the forward pass, the likelihood and every Jacobian, only to apply the metric once). The
    metric operators depend on the energy's position alone, so this builds them on the first call, keeps
    them on the energy and applies the same operators, summed in NIFTy's order: the same bits, faster.
    """
    metrics = energy.__dict__.get("_sample_metrics")
    if metrics is None:
        metrics = energy._sample_metrics = []
        for sample in energy._sample_list.local_iterator():
            sample, hamiltonian = kl_energies._reduce_by_keys(sample, energy._hamiltonian, energy._constants)
            metrics.append(hamiltonian(ift.Linearization.make_var(sample, want_metric=True)).metric)
    applied = [metric(x) for metric in metrics]
    return utilities.allreduce_sum(applied, energy._sample_list.comm) / energy._sample_list.n_samples


@contextlib.contextmanager
def cached_kl_metric():
    """Within the block, NIFTy's sampled KL energies apply their metric through :func:`_cached_apply_metric`."""
    cls = kl_energies.SampledKLEnergyClass
    original = cls.apply_metric
    cls.apply_metric = _cached_apply_metric
    try:
        yield
    finally:
        cls.apply_metric = original


def _prepare_state(state_dir: Path, fingerprint: dict, comm) -> list[dict]:
    """Keep a state directory made for the same fingerprint (to resume), wipe any other; return its history."""
    stamp = state_dir / "fingerprint.json"
    history = state_dir / "history.json"
    if is_master(comm):
        if state_dir.exists() and (not stamp.is_file() or json.loads(stamp.read_text()) != fingerprint):
            log.info("%s: state of a different run, starting afresh", state_dir)
            shutil.rmtree(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps(fingerprint, sort_keys=True))
    if comm is not None:
        comm.Barrier()
    if (state_dir / "last_finished_iteration").is_file() and history.is_file():
        entries = json.loads(history.read_text())
        log.info("%s: resuming after iteration %s", state_dir, entries[-1]["iteration"] if entries else "-")
        return entries
    return []


def optimize(likelihood: Likelihood, schedule: list[dict], state_dir: str | Path, fingerprint: dict,
             seed: int, noise_keys: list[str] = (), noise_start=None, phase_end=None
             ) -> tuple[ift.SampleListBase, list[dict]]:
    """Run the schedule; return the final posterior samples and the per-iteration history.

    In phases with ``learn_noise: false`` the parameters ``noise_keys`` stay at their
    start (weights as delivered) and are not sampled: the sky first, then its noise.
    ``noise_start(residual_sums)`` gives their latent values at the first learning
    iteration, from the residuals of the sky found so far. ``phase_end(samples, iteration)``
    is called after the last iteration of every phase.
    """
    state_dir = Path(state_dir)
    comm = mpi_communicator()
    history = _prepare_state(state_dir, fingerprint, comm)
    ift.random.push_sseq_from_seed(seed)
    hamiltonian = ift.StandardHamiltonian(likelihood.energy)
    clock = [time.perf_counter()]

    def inspect(samples, iteration):
        energies = [hamiltonian(s).val for s in samples.iterator()]
        chi2 = np.array([likelihood.chi2(s) for s in samples.iterator()])
        if comm is not None:
            energies = sum(comm.allgather(energies), [])
            chi2 = np.concatenate(comm.allgather(chi2))
        now = time.perf_counter()
        entry = {"iteration": iteration, "samples": samples.n_samples, "energy": float(np.mean(energies)),
                 "reduced_chi2_data_weights": float(chi2[:, 0].mean()),
                 "reduced_chi2_learned_weights": float(chi2[:, 1].mean()), "wall_s": now - clock[0]}
        clock[0] = now
        history.append(entry)
        log.info("iteration %d: %d samples, energy %.6g, reduced chi^2 %.4g (data weights) %.4g (learned), %.1f s",
                 iteration, entry["samples"], entry["energy"], entry["reduced_chi2_data_weights"],
                 entry["reduced_chi2_learned_weights"], entry["wall_s"])
        if is_master(comm):
            (state_dir / "history.json").write_text(json.dumps(history, indent=1))
        if phase_end is not None and iteration in last_of_phase:
            phase_end(samples, iteration)

    first = next((i for i in range(total_iterations(schedule)) if phase_at(schedule, i)["learn_noise"]), None)
    last_of_phase = set(np.cumsum([p["iterations"] for p in schedule]) - 1)

    def start_noise(samples):
        mean = samples.average()
        return ift.MultiField.union([mean, noise_start(likelihood.residual_sums(mean))])

    with cached_kl_metric():
        samples = ift.optimize_kl(
            likelihood.energy, total_iterations(schedule),
            lambda i: phase_at(schedule, i)["samples"],
            lambda i: _kl_minimizer(phase_at(schedule, i)),
            lambda i: _sampling_controller(phase_at(schedule, i)),
            lambda i: _geovi_minimizer(phase_at(schedule, i)),
            constants=lambda i: [] if phase_at(schedule, i)["learn_noise"] else list(noise_keys),
            point_estimates=lambda i: [] if phase_at(schedule, i)["learn_noise"] else list(noise_keys),
            transitions=lambda i: start_noise if noise_start is not None and i == first else None,
            output_directory=str(state_dir), resume=True, comm=comm, inspect_callback=inspect,
            plot_energy_history=False, plot_minisanity_history=False, save_strategy="last")
    ift.random.pop_sseq()
    return samples, history

"""A private single-node SLURM cluster (munge, slurmctld, slurmd) in one directory, for tests and benchmarks.

Two partitions on one node: ``cpu`` (default) and ``gpu``, whose one "GPU" is a count-only GRES on
/dev/null (routing and ``--gpus`` requests are real; no CUDA device appears). Memory limits are enforced by
SLURM's own accounting poll (``JobAcctGatherParams=OverMemoryKill``, every second) because cgroups are not
usable inside these machines. Finished jobs stay in the controller for an hour (``MinJobAge``), so
``squeue --states=all`` lists every job of a run; there is no accounting database, so ``sacct`` reads the
job-completion log (``sacct --completion``) and the executor plugin must query with squeue.

Needs root (slurmd starts jobs as their user) and Debian's ``slurm-wlm`` and ``munge``
(``make slurm-tools``). Every daemon is started here and stopped by its process id in ``stop()``, which the
context manager calls also when the body raises.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "profiles" / "slurm" / "profile.yaml"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "sacct", "srun", "sinfo")
ACTIVE = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")
NODE = "node1"
# the node claims at least this much (config_overrides lets it): the workflow's largest request (8000 MB)
# on its third attempt must be schedulable on a smaller machine; jobs are still killed at their own requests
MIN_NODE_MEMORY_MB = 3 * 8000 + 1000


def missing_tools() -> str | None:
    """Why a local cluster cannot start here (None when it can)."""
    if os.geteuid() != 0:
        return "needs root: slurmd starts jobs as their user"
    path = f"{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin"
    absent = [tool for tool in (*DAEMONS, *CLIENTS) if shutil.which(tool, path=path) is None]
    if absent:
        return f"{', '.join(absent)} not installed (Debian: apt-get install slurm-wlm munge; `make slurm-tools`)"
    return None


def workflow_profile(directory: Path, set_resources: dict | None = None) -> Path:
    """profiles/slurm with only what this cluster needs changed, written to ``directory``: job status from
    squeue (no accounting database), the first status check after 2 s (not 40), and the default profile's
    threads, or none when it sets none (PyTorch's float sums depend on the thread count, so a local run's bits
    need its threads); ``set_resources`` adds per-rule resources."""
    profile = yaml.safe_load(PROFILE.read_text())
    default = yaml.safe_load((ROOT / "profiles" / "default" / "profile.yaml").read_text())
    profile.update({"slurm-status-command": "squeue", "slurm-init-seconds-before-status-checks": 2})
    profile.pop("set-threads", None)
    if "set-threads" in default:
        profile["set-threads"] = default["set-threads"]
    for rule, resources in (set_resources or {}).items():
        profile["set-resources"].setdefault(rule, {}).update(resources)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "profile.yaml").write_text(yaml.safe_dump(profile))
    return directory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def real_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


class LocalSlurm:
    """Start with ``with LocalSlurm(directory) as cluster:``; ``cluster.env`` is the environment for clients."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.conf = self.dir / "slurm.conf"
        self.jobcomp = self.dir / "jobcomp.log"
        self.processes: dict[str, subprocess.Popen] = {}
        self.pids: list[int] = []  # every daemon ever started, for checks after stop()
        self.env = {**os.environ, "SLURM_CONF": str(self.conf),
                    "PATH": f"{self.dir / 'bin'}{os.pathsep}{os.environ['PATH']}{os.pathsep}/usr/sbin"}

    # -- set-up ---------------------------------------------------------------------------------------
    def write_config(self) -> None:
        for sub in ("munge", "state", "spool", "log", "bin"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "munge").chmod(0o700)
        key = self.dir / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        d = self.dir
        self.conf.write_text(f"""\
ClusterName=localtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={d}/munge/munge.sock
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp}
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
MinJobAge=3600
ReturnToService=2
GresTypes=gpu
NodeName={NODE} NodeHostname={socket.gethostname()} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} \
RealMemory={max(real_memory_mb(), MIN_NODE_MEMORY_MB)} Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={NODE} MaxTime=INFINITE State=UP
""")
        (self.dir / "gres.conf").write_text(f"AutoDetect=off\nNodeName={NODE} Name=gpu File=/dev/null Count=1\n")
        # snakemake-executor-plugin-slurm-jobstep 0.6.1 removes every SLURM_* variable but the allocation's
        # (SLURM_CONF too) from the environment of the `srun` it runs inside each job, so that srun would look
        # for /etc/slurm/slurm.conf; a site installation has it there, this private cluster puts it back.
        srun = self.dir / "bin" / "srun"
        srun.write_text(f'#!/bin/sh\nexport SLURM_CONF="{self.conf}"\nexec "{shutil.which("srun")}" "$@"\n')
        srun.chmod(0o755)

    def start(self) -> None:
        self.write_config()
        m = self.dir / "munge"
        self._spawn("munged", ["munged", "--foreground", "--force", f"--key-file={m}/munge.key",
                               f"--socket={m}/munge.sock", f"--pid-file={m}/munged.pid",
                               f"--log-file={m}/munged.log", f"--seed-file={m}/seed"])
        self._wait(lambda: (m / "munge.sock").exists(), "munged did not create its socket")
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
        self._wait(lambda: self._run("sinfo", "-h").returncode == 0, "slurmctld does not answer")
        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf), "-N", NODE])
        # one line per partition the node is in
        self._wait(lambda: set(self._run("sinfo", "-h", "-N", "-o", "%T").stdout.split()) == {"idle"},
                   "the node did not become idle")

    def _spawn(self, name: str, cmd: list[str]) -> None:
        with open(self.dir / "log" / f"{name}.out", "w") as log:  # the child keeps its own descriptor
            self.processes[name] = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                    start_new_session=True)
        self.pids.append(self.processes[name].pid)

    def _run(self, *cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)

    def _wait(self, ready, message: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}: {self.log_tail(name)}")
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(f"{message} within {timeout} s: {self.log_tail('slurmctld')} {self.log_tail('slurmd')}")

    def log_tail(self, name: str, lines: int = 5) -> str:
        path = {"slurmctld": self.dir / "log" / "slurmctld.log", "slurmd": self.dir / "log" / "slurmd.log",
                "munged": self.dir / "munge" / "munged.log"}[name]
        text = path.read_text(errors="replace") if path.exists() else ""
        return " | ".join(text.splitlines()[-lines:])

    # -- queries --------------------------------------------------------------------------------------
    def jobs(self) -> list[dict[str, str]]:
        """Every job the controller knows (running or finished within MinJobAge), one dict per job or array
        task: id (each task has its own), name (the plugin's run id), comment (``rule_<rule>[_wildcards_<...>]``),
        state, partition, mem (as requested, e.g. ``4000M``), time limit, gres per job, cpus, array job id and
        task id (``N/A`` for a plain job), start, end and submit times."""
        fields = ("JobID", "Name", "Comment", "State", "Partition", "MinMemory", "TimeLimit", "tres-per-job",
                  "NumCPUs", "ArrayJobID", "ArrayTaskID", "StartTime", "EndTime", "SubmitTime")
        keys = ("id", "name", "comment", "state", "partition", "mem", "time_limit", "gres", "cpus", "array_job",
                "array_task", "start", "end", "submit")
        out = self._run("squeue", "--states=all", "--noheader", "--noconvert",
                        "-O", ",".join(f"{f}:|" for f in fields))
        if out.returncode:
            raise RuntimeError(f"squeue failed: {out.stderr}")
        return [dict(zip(keys, (v.strip() for v in line.split("|")))) for line in out.stdout.splitlines()
                if line.strip()]

    def completed_records(self) -> list[dict[str, str]]:
        """SLURM's job-completion log (what ``sacct --completion`` reads): one dict of KEY=VALUE per job."""
        if not self.jobcomp.exists():
            return []
        return [dict(item.split("=", 1) for item in line.split() if "=" in item)
                for line in self.jobcomp.read_text().splitlines() if line.strip()]

    # -- tear-down ------------------------------------------------------------------------------------
    def wait_idle(self, timeout: float = 60) -> bool:
        """Wait until no job is pending, running or completing; False if some still are after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(j["state"] in ACTIVE for j in self._jobs_or_none()):
                return True
            time.sleep(0.5)
        return False

    def job_processes(self) -> list[int]:
        """Processes started by this cluster's jobs (their environment names this cluster's slurm.conf)."""
        found = []
        for environ in Path("/proc").glob("[0-9]*/environ"):
            try:
                variables = environ.read_bytes().split(b"\0")
            except OSError:  # gone, or not ours to read
                continue
            if f"SLURM_CONF={self.conf}".encode() in variables and any(v.startswith(b"SLURM_JOB_ID=")
                                                                         for v in variables):
                found.append(int(environ.parent.name))
        return found

    def stop(self) -> None:
        """Cancel every job, kill what is left of them, then stop slurmd, slurmctld and munged by process id
        (SIGTERM, then SIGKILL), each even if stopping another failed."""
        try:
            if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
                try:
                    self._run("scancel", "--full", "--user", "root")
                except subprocess.TimeoutExpired:
                    pass
                self.wait_idle(30)
            for pid in self.job_processes():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            for name in ("slurmd", "slurmctld", "munged"):
                proc = self.processes.pop(name, None)
                if proc is None or proc.poll() is not None:
                    continue
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                except ProcessLookupError:
                    pass

    def _jobs_or_none(self) -> list[dict[str, str]]:
        try:
            return self.jobs()
        except (RuntimeError, subprocess.TimeoutExpired):
            return []

    def __enter__(self) -> "LocalSlurm":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

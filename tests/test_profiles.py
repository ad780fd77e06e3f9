"""Workflow profiles parse and route jobs: the SLURM dry run works without SLURM."""

import yaml

from conftest import ROOT, job_resources, run_snakemake


def test_profiles_are_valid_yaml():
    for name in ("default", "workstation", "slurm"):
        profile = yaml.safe_load((ROOT / "profiles" / name / "profile.yaml").read_text())
        assert "default-resources" in profile


def test_slurm_dry_run_routes_jobs(tmp_path):
    result = run_snakemake(tmp_path, "-n", "--workflow-profile", str(ROOT / "profiles" / "slurm"))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "slurm_partition=cpu" in out
    # memory and run time come from the rules, e.g. the shard jobs' computed memory
    assert "rule dataset_shard" in out and "runtime=120" in out


def test_slurm_dry_run_sends_gpu_rules_to_gpus(tmp_path):
    result = run_snakemake(tmp_path, "-n", "--workflow-profile", str(ROOT / "profiles" / "slurm"))
    resources = job_resources(result.stdout + result.stderr)
    for rule in ("train_blobsfinder", "train_deepgru", "train_resnet", "deepfocus_operating_point",
                 "deepfocus_inference"):
        assert all("gpu=1" in r and "slurm_partition=gpu" in r for r in resources[rule]), (rule, resources.get(rule))
    for rule in ("simulate_casa", "dataset_shard", "tclean_dirty"):
        assert not any("gpu" in r.replace("slurm_partition=cpu", "") for r in resources[rule]), resources[rule]

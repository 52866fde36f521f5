"""Runs whose process died: who owns a run, whether that process still exists, and freeing what a
dead run holds.

A run started from the CLI (``dagster asset materialize``) and killed with SIGKILL, or SIGHUP when
its terminal closes, never reports its end: it stays STARTED and keeps its pool slots, so every later
run of the pool waits forever. With the local run launcher nothing notices (Dagster's run monitoring
checks run workers only for launchers with a health check, such as the ECS launcher in production).
So each run records the process that orchestrates it as run tags (``owner_tags``), and the next run
of the same instance reaps runs whose owner process, on this machine, no longer exists
(``reap_dead_runs``): it reports them failed, saying why, and frees their slots.

A process is identified by host name, pid namespace, boot id, pid and start time (``/proc``, Linux):
a pid reused by another process, or a reboot, is not mistaken for the owner. Runs of another
machine or without owner tags are never reaped here; ``describe_holders`` says how to clear them.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import dagster as dg

from forecast_assets.instance import file_lock

OWNER_HOST_TAG = "forecast/owner_host"
OWNER_PID_TAG = "forecast/owner_pid"
#: ``<boot id>/<pid namespace>/<start time in clock ticks since boot>``: what makes the pid unique.
OWNER_PROCESS_TAG = "forecast/owner_process"

Liveness = Literal["alive", "dead", "unknown"]


@dataclass(frozen=True)
class ProcessOwner:
    """The process that orchestrates a run."""

    host: str
    pid: int
    process: str | None  # boot/pidns/start token; None where /proc cannot tell

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}"


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _machine() -> str | None:
    """``<boot id>/<pid namespace>``: pids are comparable only between processes sharing both."""
    boot_id = _read("/proc/sys/kernel/random/boot_id")
    try:
        pid_namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    return f"{boot_id}/{pid_namespace}" if boot_id else None


def _start_ticks(pid: int) -> str | None:
    """The process's start time (``/proc/<pid>/stat`` field 22), or None if it is gone or a zombie."""
    stat = _read(f"/proc/{pid}/stat")
    if stat is None:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after "pid (command name)"
    state, start = fields[0], fields[19]
    return None if state in ("Z", "X") else start


def current_owner() -> ProcessOwner:
    """This process, as the owner of the run it orchestrates."""
    machine, start = _machine(), _start_ticks(os.getpid())
    process = f"{machine}/{start}" if machine and start else None
    return ProcessOwner(host=socket.gethostname(), pid=os.getpid(), process=process)


def owner_tags(owner: ProcessOwner) -> dict[str, str]:
    """Run tags recording ``owner``."""
    tags = {OWNER_HOST_TAG: owner.host, OWNER_PID_TAG: str(owner.pid)}
    if owner.process:
        tags[OWNER_PROCESS_TAG] = owner.process
    return tags


def owner_of(run: dg.DagsterRun) -> ProcessOwner | None:
    """The owner recorded in a run's tags, or None (a run of an older version, or run in-process)."""
    host, pid = run.tags.get(OWNER_HOST_TAG), run.tags.get(OWNER_PID_TAG, "")
    if not host or not pid.isdigit():
        return None
    return ProcessOwner(host=host, pid=int(pid), process=run.tags.get(OWNER_PROCESS_TAG))


def liveness(owner: ProcessOwner | None) -> tuple[Liveness, str]:
    """Whether the owner process still exists, and how that was decided (for messages)."""
    if owner is None:
        return "unknown", "no owner recorded in its tags"
    here = current_owner()
    if owner.host != here.host:
        return "unknown", f"owner {owner.describe()}, another machine: its process cannot be checked from here"
    if not owner.process or not here.process:
        return "unknown", f"owner {owner.describe()}, whose process cannot be identified on this system"
    boot, pid_namespace, start = (owner.process.split("/") + ["", ""])[:3]
    here_boot, here_pid_namespace, _ = here.process.split("/")
    if boot != here_boot:
        return "dead", f"owner {owner.describe()} ran before this machine restarted"
    if pid_namespace != here_pid_namespace:
        return "unknown", f"owner {owner.describe()}, in another container: its process cannot be checked from here"
    current_start = _start_ticks(owner.pid)
    if current_start is None:
        return "dead", f"owner {owner.describe()} no longer exists"
    if current_start != start:
        return "dead", f"owner {owner.describe()} no longer exists (that pid now belongs to another process)"
    return "alive", f"owner {owner.describe()} is running"


@dataclass(frozen=True)
class PoolUse:
    """A step of a run that holds, or waits for, a slot of a pool."""

    pool: str
    step_key: str
    claimed: bool  # holding a slot (False: queued for one)


def pool_uses(instance: dg.DagsterInstance, run_id: str, pools: Sequence[str]) -> list[PoolUse]:
    """What ``run_id`` holds or waits for in ``pools``."""
    uses = []
    for pool, info in instance.event_log_storage.get_concurrency_infos(list(pools)).items():
        claimed = {slot.step_key for slot in info.claimed_slots if slot.run_id == run_id}
        uses += [PoolUse(pool, step_key, True) for step_key in sorted(claimed)]
        uses += [
            PoolUse(pool, step.step_key, False)
            for step in info.pending_steps
            if step.run_id == run_id and step.step_key not in claimed
        ]
    return uses


def _held(instance: dg.DagsterInstance, run_id: str) -> str:
    uses = pool_uses(instance, run_id, sorted(instance.event_log_storage.get_concurrency_keys()))
    return ", ".join(f"{u.pool} ({u.step_key}{'' if u.claimed else ', queued'})" for u in uses) or "no pool slot"


def _reaper_lock(instance: dg.DagsterInstance) -> Path:
    """A lock file per instance in the temp folder (the instance's own folder may be read-only)."""
    digest = hashlib.sha1(str(instance.root_directory).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"forecast-run-reaper-{digest}.lock"


def reap_dead_runs(instance: dg.DagsterInstance, reaper_run_id: str) -> list[str]:
    """Report failed every unfinished run holding pool slots whose owner process is gone from this
    machine, and free the slots of those and of ended or deleted runs. One line per run freed.

    Runs whose owner is alive or cannot be checked are left alone (see ``describe_holders``).
    """
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    done = []
    # One reaper at a time on this machine, so a dead run is reported failed once.
    with file_lock(_reaper_lock(instance)):
        for run_id in sorted(storage.get_concurrency_run_ids() - {reaper_run_id}):
            run = instance.get_run_by_id(run_id)
            held = _held(instance, run_id)
            if run is None:
                storage.free_concurrency_slots_for_run(run_id)
                done.append(f"Freed {held} held by run {run_id}, which no longer exists (deleted).")
                continue
            state, why = liveness(owner_of(run))
            if run.is_finished:
                if state != "alive":  # a live owner may still be stopping its steps
                    storage.free_concurrency_slots_for_run(run_id)
                    done.append(f"Freed {held} still held by run {run_id}, which ended {run.status.value}.")
                continue
            if state != "dead":
                continue
            instance.report_run_failed(
                run,
                f"Run {run_id} was {run.status.value} but its process is gone: {why} (killed, e.g. SIGKILL, "
                f"or its terminal closed). Marked failed and its pool slots freed ({held}) by run "
                f"{reaper_run_id}. Materialize its partitions again to complete them.",
            )
            storage.free_concurrency_slots_for_run(run_id)
            done.append(f"Run {run_id} ({run.status.value}, {why}) marked FAILURE and its {held} freed.")
    return done


def describe_holders(instance: dg.DagsterInstance, pool: str, waiting_run_id: str) -> list[str]:
    """One line per other run holding (or first in line for) a slot of ``pool``, with how to clear it."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    holders = {slot.run_id for slot in info.claimed_slots if slot.run_id}
    holders |= {step.run_id for step in info.pending_steps if step.assigned_timestamp is not None}
    lines = []
    for run_id in sorted(holders - {waiting_run_id}):
        run = instance.get_run_by_id(run_id)
        status = run.status.value if run else "deleted"
        owner = owner_of(run) if run else None
        state, why = liveness(owner) if run else ("unknown", "no run record")
        delete = (
            f"`dagster run delete -f {run_id}` frees its slot (and deletes the run and its event log; "
            "its partitions then need materializing again)"
        )
        if state == "alive" and owner is not None:
            advice = (
                f"If it is stuck, stop it (Ctrl-C in its terminal, or `kill {owner.pid}`; the next run "
                f"then frees its slot); or {delete}"
            )
        else:
            advice = f"If it is no longer running (or stuck), {delete}"
        lines.append(f"run {run_id} ({status}; {why}; holds {_held(instance, run_id)}). {advice}")
    return lines

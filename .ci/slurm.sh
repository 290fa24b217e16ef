#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the Slurm tests: `start`
# installs slurm-wlm and munge if missing (apt-get, as root), writes
# slurm.conf under a temporary folder (state, spool, logs and pid files
# there too; the node line with this machine's CPU count and memory),
# starts munged, slurmctld and slurmd and waits until the node is idle; it
# prints the folder, which `stop DIR` needs to stop the daemons and remove
# it. Exits 3 if the packages cannot be installed.
set -euo pipefail

start() {
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge; } >&2 || exit 3
  fi
  dir=$(mktemp -d /tmp/selectivity-slurm.XXXXXX)
  mkdir -p "$dir"/{state,spool,log,munge}
  chmod 700 "$dir/munge"
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
  munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munge.seed" --force
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
  cat >"$dir/slurm.conf" <<CONF
ClusterName=selectivity
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MinJobAge=600
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld
  slurmd
  for _ in $(seq 60); do
    if sinfo -h -o %t 2>/dev/null | grep -qx idle; then
      echo "$dir"
      return
    fi
    sleep 1
  done
  echo "slurm.sh: the node did not come up; logs in $dir/log" >&2
  stop "$dir"
  exit 1
}

stop() {
  dir=$1
  for pid in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [[ -f $pid ]] && kill "$(cat "$pid")" 2>/dev/null || true
  done
  sleep 1
  rm -rf "$dir"
}

case ${1:-} in
  start) start ;;
  stop) stop "${2:?usage: slurm.sh stop DIR}" ;;
  *) echo "usage: slurm.sh start | stop DIR" >&2; exit 2 ;;
esac

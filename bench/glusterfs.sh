# GlusterFS beside Graft for the benchmarks (bench/vs-glusterfs.sh, bench/replicate-glusterfs.sh): sourced,
# never run. Facts behind it: /work/shared/notes (GlusterFS 10.3 from Debian, no systemd, host name not
# 127.0.0.1 for bricks, `force` for bricks on the root filesystem).
#
#   gluster_install                       # glusterfs-server, glusterfs-client and fio from Debian if missing
#   gluster_start WORK                    # glusterd on loopback (started here if none runs; pid in WORK)
#   gluster_volume_up VOL MNT [replica N] BRICKDIR...   # create, start and mount VOL on MNT (waits ≤ 20 s)
#   gluster_volume_remove VOL MNT         # unmount, stop and delete VOL (quiet if it is not there)
#   gluster_stop                          # stop glusterd if gluster_start started it

gluster_install() {
  local need=()
  command -v glusterd >/dev/null 2>&1 || need+=(glusterfs-server)
  command -v mount.glusterfs >/dev/null 2>&1 || [ -x /sbin/mount.glusterfs ] || need+=(glusterfs-client)
  command -v fio >/dev/null 2>&1 || need+=(fio)
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]} ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
}

gluster_started_pidfile=""
gluster_vols=()
gluster_start() {
  local gvol=/etc/glusterfs/glusterd.vol
  if ! grep -q 'transport.socket.bind-address' "$gvol"; then
    sed -i 's/^\(\s*option transport-type socket.*\)$/\1\n    option transport.socket.bind-address 127.0.0.1/' "$gvol"
  fi
  if ! pgrep -x glusterd >/dev/null; then
    glusterd -p "$1/glusterd.pid"
    gluster_started_pidfile="$1/glusterd.pid"
  fi
  for _ in $(seq 1 100); do gluster --mode=script volume list >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "glusterd did not answer within 20 s" >&2
  return 1
}

gluster_volume_up() {
  local vol="$1" mnt="$2" spec=() d
  shift 2
  if [ "${1:-}" = replica ]; then spec=(replica "$2"); shift 2; fi
  for d in "$@"; do mkdir -p "$d"; spec+=("$(hostname):$d"); done
  mkdir -p "$mnt"
  gluster --mode=script volume create "$vol" "${spec[@]}" force >&2
  gluster_vols+=("$vol")
  gluster --mode=script volume start "$vol" >&2
  mount -t glusterfs "127.0.0.1:/$vol" "$mnt"
  for _ in $(seq 1 100); do mountpoint -q "$mnt" && stat "$mnt" >/dev/null 2>&1 && break; sleep 0.2; done
  mountpoint -q "$mnt" || { echo "the GlusterFS mount of $vol did not come up" >&2; return 1; }
}

gluster_volume_remove() {
  local vol="$1" mnt="$2"
  mountpoint -q "$mnt" 2>/dev/null && { umount "$mnt" >/dev/null 2>&1 || umount -l "$mnt" >/dev/null 2>&1; }
  gluster --mode=script volume stop "$vol" force >/dev/null 2>&1
  gluster --mode=script volume delete "$vol" >/dev/null 2>&1
  true
}

gluster_stop() {
  local v
  [ -n "$gluster_started_pidfile" ] || return 0
  local pid
  pid="$(cat "$gluster_started_pidfile" 2>/dev/null)"
  kill "$pid" >/dev/null 2>&1
  # Gone before the next bench looks for a running glusterd (one still exiting would be taken as running), ≤ 10 s.
  for _ in $(seq 1 50); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  # glusterd leaves the brick and self-heal processes of volumes it no longer knows: ours were deleted.
  for v in "${gluster_vols[@]}"; do pkill -f "glusterfsd.*$v" >/dev/null 2>&1; done
  pkill -f "glustershd" >/dev/null 2>&1
  true
}
